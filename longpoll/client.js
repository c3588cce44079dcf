// pushwire long-polling client: the browser's WebSocket API over HTTP long
// polling, served by longpoll.Handler at <prefix>/client.js. No dependencies.
//
// API
//
//   const s = new PushwireLongPoll("/lp");  // the handler's prefix (a URL)
//   new PushwireLongPoll("/lp", {hold: 8000});  // options, both optional:
//     // hold: ms the server may hold a poll, proposed on open: under the
//     //   idle timeout of a proxy on the way. The server grants at most its
//     //   own, and its own without this.
//     // pollInterval: ms; plain polling instead, for networks that cut
//     //   held requests: each poll is answered at once and the client polls
//     //   every pollInterval, at most half the server's grace period (the
//     //   server clamps it). Not with hold.
//     // Either throws RangeError if negative or not a number.
//     // upgrade: true to move the session to a WebSocket at
//     //   <prefix>/upgrade once open (the server's Options.Upgrade), and
//     //   back to polls if that fails, trying again later: nothing lost,
//     //   repeated or reordered either way.
//     // resume: a function returning the text messages that open a
//     //   session in this one's place on a node that does not know it (the
//     //   server's Options.Adopt): sent with every poll and send, so that
//     //   behind a balancer without affinity each request is served where
//     //   it lands (see Roaming in the Go package doc). What the old session
//     //   held is not delivered: the messages must let the server derive it.
//   s.hold, s.pollInterval  // once open: what the server granted, in ms
//   s.readyState    // 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (also as
//                   // PushwireLongPoll.OPEN and so on, as on WebSocket)
//   s.binaryType    // "blob" (the default, as on WebSocket) or "arraybuffer"
//   s.transport     // "longpoll", or "websocket" while upgraded
//   s.ontransport = (e) => {};  // e.transport: the session moved
//   s.onopen = (e) => {};
//   s.onmessage = (e) => {};  // e.data: a string, or a Blob/ArrayBuffer
//   s.onerror = (e) => {};    // before a close that was not clean
//   s.onclose = (e) => {};    // e.code, e.reason, e.wasClean
//   s.send(data);             // string, ArrayBuffer, typed array or DataView
//   s.close(code, reason);    // code 1000 or 3000-4999, reason <= 123 bytes
//
//   // WebSocket first; long polling if it fails or does not open within
//   // timeout ms (default 3000), or at once with forceLongPoll. Resolves to
//   // an open or opening socket whose .transport says which it is; hold,
//   // pollInterval and upgrade go to PushwireLongPoll.
//   pushwireConnect("ws://host/ws", "/lp", {timeout: 3000, forceLongPoll: false, hold: 8000})
//     .then((s) => console.log(s.transport));  // "websocket" or "longpoll"
//
// Wire protocol (the Go package doc has it whole): POST
// <prefix>/open?hold=ms (or ?hold=0&interval=ms) -> {id, hold, interval,
// grace, maxBody}, what the server granted; GET <prefix>/poll?id=&ack=
// answers a batch, POST <prefix>/send?id=&ack= takes one and answers 204
// with the server's ack in the Pushwire-Ack header. A batch: uvarint
// sequence of the first record, then per record a kind byte (1 text, 2
// binary, 8 close), a uvarint length and the payload. ack is the last
// sequence received in order. GET <prefix>/upgrade?id=&ack= is the
// session on a WebSocket: each binary message is the sender's ack
// (uvarint) then a batch; each side sends its ack alone first.
(function (global) {
  "use strict";
  const enc = new TextEncoder(), dec = new TextDecoder("utf-8", {fatal: true});
  const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
  const KIND_TEXT = 1, KIND_BINARY = 2, KIND_CLOSE = 8;

  function uvarint(out, n) {
    while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
    out.push(n);
  }
  function readUvarint(b, i) {
    let n = 0, mul = 1;
    for (let k = 0; k < 8; k++) { // 2^53 is far beyond any count of messages
      if (i >= b.length) break;
      const c = b[i++];
      n += (c & 0x7f) * mul;
      if (c < 0x80) return [n, i];
      mul *= 0x80;
    }
    throw new Error("malformed batch");
  }
  // encode frames records with consecutive sequence numbers.
  function encode(records) {
    const parts = [];
    let size = 0;
    for (const r of records) {
      const head = [];
      if (parts.length === 0) uvarint(head, r.seq);
      head.push(r.kind);
      uvarint(head, r.data.length);
      parts.push(Uint8Array.from(head), r.data);
      size += head.length + r.data.length;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function decode(b) {
    const out = [];
    if (b.length === 0) return out;
    let [seq, i] = readUvarint(b, 0);
    while (i < b.length) {
      const kind = b[i++];
      let len;
      [len, i] = readUvarint(b, i);
      if (i + len > b.length || (kind !== KIND_TEXT && kind !== KIND_BINARY && kind !== KIND_CLOSE)) throw new Error("malformed batch");
      out.push({kind, seq: seq++, data: b.subarray(i, i + len)});
      i += len;
    }
    return out;
  }
  // proposal is the open request's query: the hold or plain polling opts
  // ask for, if any.
  function proposal(opts) {
    const ms = (v, name) => {
      if (v === undefined) return 0;
      if (typeof v !== "number" || !(v >= 0) || v === Infinity) throw new RangeError(name + ": milliseconds, 0 or more");
      return Math.ceil(v);
    };
    const hold = ms(opts.hold, "hold"), interval = ms(opts.pollInterval, "pollInterval");
    if (hold && interval) throw new RangeError("hold and pollInterval both set");
    return interval ? "?hold=0&interval=" + interval : hold ? "?hold=" + hold : "";
  }
  // The close codes a status of the server means: the session cannot go on.
  const fatal = {400: 1002, 403: 1008, 404: 1006, 413: 1009};

  class PushwireLongPoll {
    constructor(base, opts) {
      this._proposal = proposal(opts || {});
      this._upgradeOn = !!(opts && opts.upgrade);
      this._resume = (opts && opts.resume) || null;
      this._gen = 0;         // sessions adopted since the open
      this._left = [];       // the last ids left for adopted sessions
      this._ws = null;       // the WebSocket the session runs on, once upgraded
      this._held = null;     // while trying or upgraded: resolves when polls may go on
      this._upDelay = 1000;  // before the next upgrade attempt
      this._attempt = 0;     // upgrade attempts begun or given up, sent with polls
      this.url = String(base).replace(/\/$/, "");
      this.readyState = CONNECTING;
      this.transport = "longpoll";
      this.binaryType = "blob";
      this.onopen = this.onmessage = this.onclose = this.onerror = this.ontransport = null;
      this._in = 0;          // last sequence received
      this._outSeq = 0;      // last sequence given
      this._out = [];        // unacknowledged records
      this._sending = false; // at most one send in flight
      this._ackClose = false;
      this._closeSeq = 0;
      this._failing = 0;     // when requests began to fail
      this._delay = 0;
      this._open();
    }
    _emit(name, ev) { ev.type = name; ev.target = this; const f = this["on" + name]; if (f) f.call(this, ev); }
    async _open() {
      try {
        const r = await fetch(this.url + "/open" + this._proposal, {method: "POST", cache: "no-store"});
        if (!r.ok) throw new Error("open: " + r.status);
        const o = await r.json();
        this._id = o.id; this._grace = o.grace; this._maxBody = o.maxBody;
        this.hold = o.hold; this.pollInterval = o.interval || 0; // as granted
      } catch (e) {
        this._finish(1006, "", false, e);
        return;
      }
      if (this.readyState === CONNECTING) {
        this.readyState = OPEN;
        this._emit("open", {});
      }
      this._send();
      this._poll();
      this._upgrade();
    }
    _q() { return "?id=" + encodeURIComponent(this._id) + "&ack=" + this._in; }
    // _roam returns the headers and query a request carries for a node that
    // may not know the session, and how many opening records they hold.
    _roam() {
      const headers = {};
      if (this._left.length) headers["Pushwire-Left"] = this._left.join(",");
      const msgs = this._resume ? this._resume() : [];
      if (!msgs.length) return {headers, query: "", opening: 0};
      const batch = encode(msgs.map((m, i) => ({kind: KIND_TEXT, seq: i + 1, data: enc.encode(m)})));
      let bin = "";
      for (let i = 0; i < batch.length; i += 0x8000) bin += String.fromCharCode.apply(null, batch.subarray(i, i + 0x8000));
      headers["Pushwire-Resume"] = btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      // An adopting node grants the hold the open proposed.
      return {headers, query: this._proposal.replace("?", "&"), opening: msgs.length};
    }
    // _pollAnswered makes sense of a poll's answer: false when it counts
    // a session left since. One that names a new session (its node adopted
    // ours) moves us there, even past a move a send's adoption made: one
    // poll is in flight, so we took nothing from that session.
    _pollAnswered(res) {
      const id = res.r.headers.get("Pushwire-Session");
      if (id) { this._moveTo(id, res.opening); return true; }
      return res.gen === this._gen;
    }
    // _moveTo makes id ours: its records count from 1, and what the old one
    // was not seen to take follows the opening records, to go again.
    _moveTo(id, opening) {
      this._leave(this._id);
      this._id = id; this._gen++; this._in = 0;
      this._out.forEach((m, i) => {
        if (m.seq === this._closeSeq) this._closeSeq = opening + i + 1;
        m.seq = opening + i + 1;
      });
      this._outSeq = opening + this._out.length;
    }
    _leave(id) {
      this._left.push(id);
      if (this._left.length > 4) this._left.shift();
    }
    // _fetch makes a request that gives up some time after the hold time.
    async _fetch(op, init) {
      const ctl = typeof AbortController !== "undefined" ? new AbortController() : null;
      const timer = ctl && setTimeout(() => ctl.abort(), this.hold + 10000);
      if (op === "poll") this._pollCtl = ctl;
      try {
        const t = op === "poll" && this._upgradeOn ? "&t=" + this._attempt : "";
        const gen = this._gen, roam = this._roam();
        const r = await fetch(this.url + "/" + op + this._q() + t + roam.query, Object.assign({cache: "no-store", signal: ctl && ctl.signal, headers: roam.headers}, init));
        if (r.status === 404 && gen !== this._gen) return {r, body: new Uint8Array(0), gone: true}; // a session left since, ended
        if (r.status === 404 && this._closeSeq) { this._finish(this._closeCode, this._closeReason, true); return null; } // our close arrived
        if (fatal[r.status]) { this._finish(fatal[r.status], "", false, new Error(op + ": " + r.status)); return null; }
        if (!r.ok) throw new Error(op + ": " + r.status);
        const body = new Uint8Array(await r.arrayBuffer());
        this._failing = 0; this._delay = 0;
        return {r, body, gen, opening: roam.opening};
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
    async _poll() {
      while (this.readyState === OPEN || this.readyState === CLOSING) {
        if (this._held) { await this._held; continue; }
        const start = Date.now();
        let res;
        try {
          res = await this._fetch("poll", {});
          if (!res) return;
          if (res.gone || !this._pollAnswered(res)) continue; // the next poll goes to the session now ours
          res.recs = decode(res.body);
        } catch (e) {
          if (!(await this._backoff())) return;
          continue;
        }
        if (!this._take(res.recs)) return;
        const wait = start + this.pollInterval - Date.now();
        if (this.pollInterval && wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
    }
    // _take delivers the records that follow what was received (a gap
    // comes again); false once the session is over.
    _take(recs) {
      for (const rec of recs) {
        if (this.readyState === CLOSED) return false;
        if (rec.seq <= this._in) continue;    // a duplicate after a lost answer
        if (rec.seq !== this._in + 1) break;
        this._in = rec.seq;
        if (rec.kind === KIND_CLOSE) {
          const code = rec.data.length >= 2 ? (rec.data[0] << 8) | rec.data[1] : 1005;
          const reason = rec.data.length > 2 ? dec.decode(rec.data.subarray(2)) : "";
          this._ackClose = true; // tell the server its close arrived
          this._send();
          this._finish(code, reason, true);
          return false;
        }
        let data = rec.data;
        if (rec.kind === KIND_TEXT) data = dec.decode(data);
        else if (this.binaryType === "arraybuffer") data = data.slice().buffer;
        else data = new Blob([data]);
        this._emit("message", {data});
      }
      return this.readyState !== CLOSED;
    }
    // _upgrade tries to move the session to a WebSocket; polls and sends
    // wait meanwhile and while it lasts, and take over when it fails.
    _upgrade() {
      if (!this._upgradeOn || typeof WebSocket === "undefined" || this.readyState !== OPEN || this._held) return;
      let release;
      this._held = new Promise((r) => { release = r; });
      this._attempt++; // a poll sent before this one must not end it
      const u = new URL(this.url + "/upgrade" + this._q() + "&t=" + this._attempt, typeof location !== "undefined" ? location.href : undefined);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      let ws, opened = false, started = false, sent = 0, acked = -1, heard = Date.now(), said = Date.now(), keep = null;
      const probe = setTimeout(() => end(), 5000);
      const end = () => {
        if (!ws || ws.onclose === null) return;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        clearTimeout(probe); clearInterval(keep);
        try { ws.close(); } catch (e) { /* not open yet */ }
        const was = this._ws;
        this._ws = null; this._held = null; this._attempt++; release();
        if (this.readyState === CLOSED) return;
        if (was) { this.transport = "longpoll"; this._emit("transport", {transport: "longpoll"}); }
        this._send();
        this._upDelay = opened ? 1000 : Math.min(this._upDelay * 2, 60000);
        setTimeout(() => this._upgrade(), this._upDelay);
      };
      const say = (recs) => {
        const head = [];
        uvarint(head, this._in);
        const batch = encode(recs), msg = new Uint8Array(head.length + batch.length);
        msg.set(head); msg.set(batch, head.length);
        ws.send(msg);
        acked = this._in; said = Date.now();
        if (recs.length) sent = recs[recs.length - 1].seq;
      };
      // flush sends the records the server lacks, in batches under its
      // limit, and our ack if it moved.
      this._wsFlush = () => {
        if (!started || ws.readyState !== 1) return;
        for (;;) {
          const batch = [];
          let size = 0;
          for (const m of this._out) {
            if (m.seq <= sent) continue;
            if (batch.length > 0 && size + m.data.length + 21 > this._maxBody) break;
            batch.push(m); size += m.data.length + 21;
          }
          if (batch.length === 0 && acked === this._in) return;
          say(batch);
          if (batch.length === 0) return;
        }
      };
      const broken = (why) => { this._finish(1002, "", false, new Error(why)); end(); };
      try { ws = new WebSocket(u.href); } catch (e) { ws = null; this._held = null; release(); return; }
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        opened = true; clearTimeout(probe);
        this._ws = ws;
        this.transport = "websocket";
        this._emit("transport", {transport: "websocket"});
        say([]);
        const grace = this._grace || 30000;
        keep = setInterval(() => {
          if (Date.now() - heard > grace) end();
          else if (Date.now() - said > grace / 3) say([]);
        }, grace / 6);
      };
      ws.onmessage = (e) => {
        heard = Date.now();
        let ack, i, recs;
        try {
          if (typeof e.data === "string") throw new Error("text message");
          const b = new Uint8Array(e.data);
          [ack, i] = readUvarint(b, 0);
          recs = decode(b.subarray(i));
        } catch (err) { broken("upgraded session: " + err.message); return; }
        if (ack > this._outSeq) { broken("upgraded session: ack of a message never sent"); return; }
        if (recs.length && recs[0].seq > this._in + 1) { broken("upgraded session: a gap"); return; }
        this._out = this._out.filter((m) => m.seq > ack);
        if (this._closeSeq && ack >= this._closeSeq) { this._finish(this._closeCode, this._closeReason, true); end(); return; }
        started = true;
        if (!this._take(recs)) { end(); return; }
        this._wsFlush();
      };
      ws.onclose = ws.onerror = end;
    }
    // _backoff waits before a retry, doubling up to 2 s, and gives up once
    // requests have failed for the grace period: the server forgot us.
    async _backoff() {
      if (!this._failing) this._failing = Date.now();
      if (Date.now() - this._failing > this._grace) { this._finish(1006, "server unreachable", false, new Error("server unreachable")); return false; }
      this._delay = Math.min(Math.max(this._delay * 2, 50), 2000);
      await new Promise((res) => setTimeout(res, this._delay * (0.5 + Math.random() / 2)));
      return this.readyState === OPEN || this.readyState === CLOSING;
    }
    send(data) {
      if (this.readyState === CONNECTING) throw new Error("InvalidStateError: still connecting");
      if (this.readyState !== OPEN) return; // as WebSocket: dropped once closing
      let kind = KIND_BINARY, bytes;
      if (typeof data === "string") { kind = KIND_TEXT; bytes = enc.encode(data); }
      else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data.slice(0));
      else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
      else throw new TypeError("send: a string, ArrayBuffer or ArrayBuffer view");
      if (bytes.length > this._maxBody - 21) throw new RangeError("send: message larger than the server takes");
      this._out.push({kind, seq: ++this._outSeq, data: bytes});
      this._send();
    }
    // _send posts what is unacknowledged, one request at a time, in batches
    // under the server's body limit.
    async _send() {
      if (this._ws) { this._wsFlush(); return; }
      if (this._sending || !this._id || this._held) return;
      this._sending = true;
      try {
        while ((this._out.length > 0 || this._ackClose) && !this._held) {
          this._ackClose = false;
          const batch = [];
          let size = 0;
          for (const m of this._out) {
            if (batch.length > 0 && size + m.data.length + 21 > this._maxBody) break;
            batch.push(m); size += m.data.length + 21;
          }
          let res;
          const first0 = batch.length ? batch[0].seq : 1; // a move renumbers batch
          try {
            res = await this._fetch("send", {method: "POST", body: encode(batch)});
            if (!res) return;
            if (res.gone) continue; // sent again, to the session now ours
          } catch (e) {
            if (!(await this._backoff())) return;
            continue;
          }
          const acked = Number(res.r.headers.get("Pushwire-Ack"));
          const id = res.r.headers.get("Pushwire-Session");
          if (res.gen !== this._gen) {
            // A session left since took the first of batch: they arrived,
            // and do not go again; one send is in flight, so they are
            // still the first unacknowledged.
            const first = id ? res.opening + 1 : first0;
            if (id) this._leave(id);
            this._out.splice(0, Math.min(batch.length, Math.max(acked + 1, first) - first) || 0);
            continue;
          }
          if (id) this._moveTo(id, res.opening);
          this._out = this._out.filter((m) => m.seq > acked);
          if (this._closeSeq && acked >= this._closeSeq) { this._finish(this._closeCode, this._closeReason, true); return; }
          if (this.readyState === CLOSED) return;
        }
      } finally {
        this._sending = false;
      }
    }
    close(code, reason) {
      if (code === undefined) code = 1000;
      reason = reason === undefined ? "" : String(reason);
      const r = enc.encode(reason);
      if (code !== 1000 && (code < 3000 || code > 4999)) throw new Error("InvalidAccessError: close code " + code);
      if (r.length > 123) throw new SyntaxError("close reason longer than 123 bytes");
      if (this.readyState >= CLOSING) return;
      this.readyState = CLOSING;
      this._closeCode = code; this._closeReason = reason;
      const data = new Uint8Array(2 + r.length);
      data[0] = code >> 8; data[1] = code & 0xff; data.set(r, 2);
      this._closeSeq = ++this._outSeq;
      this._out.push({kind: KIND_CLOSE, seq: this._closeSeq, data});
      this._send(); // before open, _open sends it
    }
    _finish(code, reason, wasClean, err) {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      // A poll the server still holds would keep, up to the hold time, a
      // connection of the few a browser opens to one host.
      if (this._pollCtl) this._pollCtl.abort();
      if (this._ws) { const ws = this._ws; setTimeout(() => { try { ws.close(); } catch (e) { /* closed */ } }, 100); }
      if (!wasClean) this._emit("error", {error: err});
      this._emit("close", {code, reason, wasClean});
    }
  }
  for (const [k, v] of Object.entries({CONNECTING, OPEN, CLOSING, CLOSED})) {
    PushwireLongPoll[k] = v;
    PushwireLongPoll.prototype[k] = v;
  }

  function pushwireConnect(wsURL, lpURL, opts) {
    opts = opts || {};
    const lp = {hold: opts.hold, pollInterval: opts.pollInterval, upgrade: opts.upgrade};
    proposal(lp); // throws now, as the constructor would
    if (opts.forceLongPoll || typeof WebSocket === "undefined") return Promise.resolve(new PushwireLongPoll(lpURL, lp));
    return new Promise((resolve) => {
      let done = false, ws = null, timer = null;
      const fallback = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (ws) { ws.onopen = ws.onclose = ws.onerror = null; try { ws.close(); } catch (e) { /* not open yet */ } }
        resolve(new PushwireLongPoll(lpURL, lp));
      };
      try { ws = new WebSocket(wsURL); } catch (e) { fallback(); return; }
      timer = setTimeout(fallback, opts.timeout || 3000);
      ws.onopen = () => {
        if (done) return;
        done = true; clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        ws.transport = "websocket";
        resolve(ws);
      };
      ws.onerror = ws.onclose = fallback;
    });
  }

  global.PushwireLongPoll = PushwireLongPoll;
  global.pushwireConnect = pushwireConnect;
})(typeof window !== "undefined" ? window : globalThis);
