// pushwire long-polling client: the browser's WebSocket API over HTTP long
// polling, served by longpoll.Handler at <prefix>/client.js. No dependencies.
//
//   const s = new PushwireLongPoll("/lp");     // the handler's prefix
//   s.onopen = () => s.send("hi");
//   s.onmessage = (e) => console.log(e.data);  // a string, or an ArrayBuffer for binary
//   s.onclose = (e) => console.log(e.code, e.reason, e.wasClean);
//   s.close(1000, "bye");
//
//   // WebSocket first, long polling if it does not open in time:
//   pushwireConnect("ws://host/ws", "/lp", {timeout: 3000, forceLongPoll: false})
//     .then((s) => console.log(s.transport));   // "websocket" or "longpoll"
//
// Wire protocol (see the Go package doc): POST <prefix>/open -> {id, hold,
// grace}; GET <prefix>/poll?id=&ack= and POST <prefix>/send?id=&ack= carry
// batches of records: kind byte (1 text, 2 binary, 8 close), uvarint
// sequence, uvarint length, payload. ack is the last sequence received in
// order; the send response's Pushwire-Ack header is the server's.
(function (global) {
  "use strict";
  const enc = new TextEncoder(), dec = new TextDecoder("utf-8", {fatal: true});

  function uvarint(out, n) {
    while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
    out.push(n);
  }
  function readUvarint(b, i) {
    let n = 0, mul = 1;
    for (;;) {
      if (i >= b.length) throw new Error("truncated batch");
      const c = b[i++];
      n += (c & 0x7f) * mul;
      if (c < 0x80) return [n, i];
      mul *= 0x80;
    }
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
      if (i + len > b.length) throw new Error("truncated batch");
      out.push({kind, seq: seq++, data: b.subarray(i, i + len)});
      i += len;
    }
    return out;
  }

  class PushwireLongPoll {
    constructor(base) {
      this.url = base.replace(/\/$/, "");
      this.readyState = 0; // CONNECTING, OPEN, CLOSING, CLOSED as in WebSocket
      this.transport = "longpoll";
      this.binaryType = "arraybuffer";
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this._in = 0; this._outSeq = 0; this._out = []; this._sending = false;
      this._closeSeq = 0; this._failing = 0;
      this._open();
    }
    _emit(name, ev) { const f = this["on" + name]; if (f) f.call(this, ev); }
    async _open() {
      try {
        const r = await fetch(this.url + "/open", {method: "POST", cache: "no-store"});
        if (!r.ok) throw new Error("open: " + r.status);
        const o = await r.json();
        this._id = o.id; this._grace = o.grace;
      } catch (e) {
        this._emit("error", {type: "error", error: e});
        this._finish(1006, "", false);
        return;
      }
      this.readyState = 1;
      this._emit("open", {type: "open"});
      this._poll();
    }
    _q() { return "?id=" + this._id + "&ack=" + this._in; }
    async _poll() {
      while (this.readyState === 1 || this.readyState === 2) {
        let recs;
        try {
          const r = await fetch(this.url + "/poll" + this._q(), {cache: "no-store"});
          if (r.status === 404) { this._finish(1006, "session expired", false); return; }
          if (!r.ok) throw new Error("poll: " + r.status);
          recs = decode(new Uint8Array(await r.arrayBuffer()));
          this._failing = 0;
        } catch (e) {
          if (!(await this._backoff())) return;
          continue;
        }
        for (const rec of recs) {
          if (rec.seq <= this._in) continue;    // a duplicate after a lost answer
          if (rec.seq !== this._in + 1) break;  // comes again with the next poll
          this._in = rec.seq;
          if (rec.kind === 8) {
            const code = rec.data.length >= 2 ? (rec.data[0] << 8) | rec.data[1] : 1005;
            const reason = rec.data.length > 2 ? dec.decode(rec.data.subarray(2)) : "";
            this._send(true); // acknowledge it
            this._finish(code, reason, true);
            return;
          }
          const data = rec.kind === 1 ? dec.decode(rec.data) : rec.data.slice().buffer;
          this._emit("message", {type: "message", data});
        }
      }
    }
    async _backoff() {
      if (!this._failing) this._failing = Date.now();
      if (Date.now() - this._failing > this._grace) { this._finish(1006, "server unreachable", false); return false; }
      await new Promise((res) => setTimeout(res, 500));
      return this.readyState === 1 || this.readyState === 2;
    }
    send(data) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
      let kind = 2, bytes;
      if (typeof data === "string") { kind = 1; bytes = enc.encode(data); }
      else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
      else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      else throw new Error("send: string, ArrayBuffer or view");
      this._out.push({kind, seq: ++this._outSeq, data: bytes.slice()});
      this._send(false);
    }
    async _send(ackOnly) {
      if (this._sending && !ackOnly) return;
      this._sending = true;
      try {
        while (this._out.length > 0 || ackOnly) {
          ackOnly = false;
          const batch = this._out.slice();
          let r;
          try {
            r = await fetch(this.url + "/send" + this._q(), {method: "POST", cache: "no-store", body: encode(batch), headers: {"Content-Type": "application/octet-stream"}});
          } catch (e) {
            if (!(await this._backoff())) return;
            continue;
          }
          if (r.status === 404) { this._finish(1006, "session expired", false); return; }
          const acked = Number(r.headers.get("Pushwire-Ack"));
          this._out = this._out.filter((m) => m.seq > acked);
          if (this._closeSeq && acked >= this._closeSeq) { this._finish(this._closeCode, this._closeReason, true); return; }
        }
      } finally {
        this._sending = false;
      }
    }
    close(code, reason) {
      if (this.readyState >= 2) return;
      code = code || 1000; reason = reason || "";
      this.readyState = 2;
      this._closeCode = code; this._closeReason = reason;
      const r = enc.encode(reason);
      const data = new Uint8Array(2 + r.length);
      data[0] = code >> 8; data[1] = code & 0xff; data.set(r, 2);
      this._closeSeq = ++this._outSeq;
      this._out.push({kind: 8, seq: this._closeSeq, data});
      this._send(false);
    }
    _finish(code, reason, wasClean) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this._emit("close", {type: "close", code, reason, wasClean});
    }
  }

  // pushwireConnect tries a WebSocket first and falls back to long polling
  // when it does not open within opts.timeout milliseconds (default 3000).
  function pushwireConnect(wsURL, lpURL, opts) {
    opts = opts || {};
    if (opts.forceLongPoll || typeof WebSocket === "undefined") return Promise.resolve(new PushwireLongPoll(lpURL));
    return new Promise((resolve) => {
      let done = false;
      let ws;
      const fallback = () => {
        if (done) return;
        done = true;
        if (ws) { ws.onopen = ws.onclose = ws.onerror = null; try { ws.close(); } catch (e) { /* not open */ } }
        resolve(new PushwireLongPoll(lpURL));
      };
      try { ws = new WebSocket(wsURL); } catch (e) { fallback(); return; }
      ws.binaryType = "arraybuffer";
      const timer = setTimeout(fallback, opts.timeout || 3000);
      ws.onopen = () => {
        if (done) return;
        done = true; clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        ws.transport = "websocket";
        resolve(ws);
      };
      ws.onerror = ws.onclose = () => { clearTimeout(timer); fallback(); };
    });
  }

  global.PushwireLongPoll = PushwireLongPoll;
  global.pushwireConnect = pushwireConnect;
})(typeof window !== "undefined" ? window : globalThis);
