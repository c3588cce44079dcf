// Drives client.js, fetched from the handler, in Node for js_test.go: the
// scenario is argv[3], the handler's URL argv[2], and argv[4], if given,
// JSON of pushwireConnect's options plus idle, the ms the idle scenario
// waits before it closes. Prints one JSON line.
"use strict";
const vm = require("vm");
const [base, scenario, optsJSON] = process.argv.slice(2);
const {idle, ...opts} = JSON.parse(optsJSON || "{}");
const out = (v) => { console.log(JSON.stringify(v)); process.exit(0); };
setTimeout(() => out({error: "timeout"}), 25000);

(async () => {
  const src = await (await fetch(base + "/client.js")).text();
  vm.runInThisContext(src);
  if (scenario === "bad-options") {
    // Each one throws at once, from either entry point.
    const got = [];
    for (const o of [{hold: -1}, {hold: "8000"}, {pollInterval: NaN}, {hold: Infinity}, {hold: 1, pollInterval: 1}]) {
      for (const make of [() => new PushwireLongPoll(base, o), () => pushwireConnect("ws://127.0.0.1:1/none", base, o)]) {
        try { make(); got.push("no error"); } catch (e) { got.push(e.name); }
      }
    }
    out({got});
  }
  if (scenario === "upgrade") {
    // n messages each way on a session that moves to a WebSocket; prints
    // how many came in order, the transports seen, and the close.
    const n = opts.n;
    const s = await pushwireConnect("", base, {forceLongPoll: true, upgrade: true});
    const seen = new Set();
    let next = 0, bad = "";
    // Ten every 5 ms, so that the session moves and is cut while they go.
    let sent = 0;
    const more = () => {
      for (let k = 0; k < 10 && sent < n; k++) s.send("c" + sent++);
      if (sent < n) setTimeout(more, 5);
      else if (next === n) s.close(4000, "bye");
    };
    s.onopen = more;
    s.ontransport = (e) => seen.add(e.transport);
    s.onmessage = (e) => {
      if (e.data !== "s" + next && !bad) bad = "got " + e.data + ", want s" + next;
      next++;
      if (next === n && sent === n) s.close(4000, "bye");
    };
    s.onclose = (e) => setTimeout(out, 300, {received: next, bad, seen: [...seen].sort(), code: e.code, wasClean: e.wasClean});
    return;
  }
  if (scenario === "roam") {
    // Behind a balancer without affinity, a client that resumes from the
    // last number it read: n numbers in order (replays dropped), and m
    // messages of its own.
    let last = 0, bad = "";
    const s = new PushwireLongPoll(base, {hold: 1000, resume: () => ["from " + last]});
    s.onopen = () => {
      s.send("from 0");
      for (let k = 0; k < opts.m; k++) s.send("c" + k);
    };
    s.onmessage = (e) => {
      const k = Number(e.data);
      if (k <= last) return;
      if (k !== last + 1 && !bad) bad = "got " + k + " after " + last;
      last = k;
      if (last === opts.n) s.close(4000, "bye");
    };
    s.onclose = (e) => setTimeout(out, 300, {received: last, bad, code: e.code});
    return;
  }
  const s = await pushwireConnect("ws://127.0.0.1:1/none", base, {timeout: 500, ...opts});
  s.binaryType = "arraybuffer";
  const got = [];
  s.onerror = () => got.push("error");
  // Let the last acknowledgement leave before exiting; unknown-session
  // stays on, as a page would, until the test ends it.
  s.onclose = (e) => {
    const v = {transport: s.transport, got, code: e.code, reason: e.reason, wasClean: e.wasClean, state: s.readyState, hold: s.hold, pollInterval: s.pollInterval};
    if (scenario === "unknown-session") console.log(JSON.stringify(v));
    else setTimeout(out, 300, v);
  };
  s.onopen = () => {
    if (scenario === "unknown-session") s.send("x");
    if (scenario === "echo") {
      s.send("héllo");
      s.send(new Uint8Array([0, 255, 7]).buffer);
      s.send("x".repeat(60000));
    }
    if (scenario === "idle") setTimeout(() => s.close(1000, "idle"), idle);
  };
  s.onmessage = (e) => {
    got.push(typeof e.data === "string" ? (e.data.length > 20 ? "len:" + e.data.length : e.data) : Array.from(new Uint8Array(e.data)));
    if (scenario === "echo" && got.length === 3) s.close(4000, "bye");
  };
})().catch((e) => out({error: String(e)}));
