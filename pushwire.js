// pushwire push client for the browser, served by pushwire.Server at
// <prefix>/pushwire.js. It needs the long-polling client, served at
// <prefix>/client.js: load that first. No other dependency.
//
//   const c = pushwire.connect("/push/", {
//     topics: ["clock", "chat"],
//     transport: "",          // "websocket" or "longpoll" to force one, "upgrade"
//                             // for long polling that moves to a WebSocket once open
//     hold: 0,                // long polling: a hold to propose, in ms (a proxy
//                             // that cuts idle requests sooner than the server's)
//     pollInterval: 0,        // long polling: plain polling every so many ms
//     onEvent: (e) => {},     // e.kind: "publication", "lost", "message", "error",
//                             // "subscribed" (live from here, after each reconnection)
//                             // e.topic, e.epoch, e.offset, e.data (string or
//                             // ArrayBuffer), e.reason
//     onState: (s) => {},     // "connecting", "websocket", "longpoll"
//   });
//   c.subscribe("t"); c.unsubscribe("t");
//   c.send(data);             // to the server's OnMessage
//   c.reconnect();            // drop the connection; it resumes
//   c.close();
//
// It reconnects with jittered exponential backoff (100 ms to 5 s), falls
// back to long polling when WebSocket does not open (and moves the session
// back to a WebSocket when one opens), and resumes each topic from the
// last publication it received: every publication once, in order, or a
// "lost" event. The protocol (pushwire.v1) is in the Go package doc.
(function (global) {
  "use strict";
  const SUBPROTOCOL = "pushwire.v1";

  function b64ToBuffer(s) {
    const bin = atob(s), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufferToB64(buf) {
    const b = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s);
  }

  function connect(url, opts) {
    opts = opts || {};
    const base = new URL(url, global.location ? global.location.href : undefined);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    const wsURL = (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + base.pathname;
    const topics = new Set(opts.topics || []);
    const positions = new Map(); // topic -> {epoch, offset}
    // attempt numbers the connections: a callback of an old one is ignored.
    let sock = null, closed = false, backoff = 100, transport = opts.transport || "", attempt = 0;
    const onEvent = opts.onEvent || (() => {});
    const onState = opts.onState || (() => {});

    function write(env) {
      if (sock && sock.readyState === 1) sock.send(JSON.stringify(env));
    }
    function subEnvelope(t) {
      const p = positions.get(t);
      const e = {t: "sub", topic: t};
      if (p) { e.epoch = p.epoch; e.off = p.offset; }
      return e;
    }
    function received(text) {
      let e;
      try { e = JSON.parse(text); } catch (err) { sock.close(1003, "malformed envelope"); return; }
      const data = e.data !== undefined ? e.data : (e.bin !== undefined ? b64ToBuffer(e.bin) : undefined);
      switch (e.t) {
        case "pub": {
          if (!topics.has(e.topic)) return;
          const last = positions.get(e.topic);
          if (last && last.epoch === e.epoch && e.off <= last.offset) return; // received already
          positions.set(e.topic, {epoch: e.epoch, offset: e.off});
          onEvent({kind: "publication", topic: e.topic, epoch: e.epoch, offset: e.off, data});
          return;
        }
        case "sub": {
          const last = positions.get(e.topic);
          if (!last || last.epoch !== e.epoch) positions.set(e.topic, {epoch: e.epoch || "", offset: e.off || 0});
          onEvent({kind: "subscribed", topic: e.topic, epoch: e.epoch, offset: e.off});
          return;
        }
        case "lost":
          if (e.epoch) positions.set(e.topic, {epoch: e.epoch, offset: e.off || 0});
          onEvent({kind: "lost", topic: e.topic, epoch: e.epoch, offset: e.off, reason: e.reason});
          return;
        case "msg":
          onEvent({kind: "message", data});
          return;
        case "err":
          onEvent({kind: "error", topic: e.topic, reason: e.reason});
          return;
      }
    }
    function opened(s, kind) {
      sock = s;
      backoff = 100;
      onState(kind);
      for (const t of topics) write(subEnvelope(t));
    }
    function lost() {
      sock = null;
      if (closed) return;
      onState("connecting");
      const wait = Math.random() * backoff;
      backoff = Math.min(backoff * 2, 5000);
      setTimeout(open, wait);
    }
    function openLongPoll(id) {
      const upgrade = transport === "" || transport === "upgrade";
      // resume: a node that does not know the session opens one from the
      // subscriptions, so no balancer affinity is needed.
      const resume = () => Array.from(topics, (t) => JSON.stringify(subEnvelope(t)));
      const s = new global.PushwireLongPoll(base.href, {hold: opts.hold || 0, pollInterval: opts.pollInterval || 0, upgrade, resume});
      s.onopen = () => { if (id === attempt) opened(s, "longpoll"); };
      s.ontransport = (e) => { if (id === attempt) onState(e.transport); };
      s.onmessage = (ev) => { if (id === attempt) received(ev.data); };
      s.onclose = () => { if (id === attempt) lost(); };
    }
    function open() {
      if (closed) return;
      const id = ++attempt;
      if (transport === "longpoll" || transport === "upgrade") { openLongPoll(id); return; }
      let s, settled = false;
      try { s = new WebSocket(wsURL, SUBPROTOCOL); } catch (err) { fallback(); return; }
      const timer = setTimeout(() => { if (!settled) { settled = true; s.onclose = null; s.close(); fallback(); } }, 3000);
      function fallback() {
        if (id !== attempt) return;
        if (transport === "websocket") { lost(); return; }
        openLongPoll(id);
      }
      s.onopen = () => { settled = true; clearTimeout(timer); if (id === attempt) opened(s, "websocket"); };
      s.onmessage = (ev) => { if (id === attempt) received(ev.data); };
      s.onclose = () => {
        clearTimeout(timer);
        if (!settled) { settled = true; fallback(); return; }
        if (id === attempt) lost();
      };
    }
    open();
    return {
      subscribe(t) { topics.add(t); write(subEnvelope(t)); },
      unsubscribe(t) { topics.delete(t); positions.delete(t); write({t: "unsub", topic: t}); },
      send(data) {
        const e = {t: "msg"};
        if (typeof data === "string") e.data = data; else e.bin = bufferToB64(data);
        write(e);
      },
      reconnect(nextTransport) {
        if (nextTransport !== undefined) transport = nextTransport;
        attempt++; // the old connection's callbacks are ignored from now
        if (sock) sock.close();
        lost();
      },
      close() { closed = true; attempt++; if (sock) sock.close(1000, ""); },
      get transport() { return sock ? (sock.transport || "websocket") : ""; },
    };
  }

  global.pushwire = {connect};
})(typeof window !== "undefined" ? window : globalThis);
