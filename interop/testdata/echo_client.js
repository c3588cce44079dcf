'use strict';
// A client on Node's ws, the peer of interop's tests for pushwire's server,
// which echoes. It reads cases from standard input, one JSON object a line,
// and runs each on a connection of its own, in order:
//
//   {"id": "x", "url": "ws://127.0.0.1:N/?id=x",
//    "deflate": {"serverMaxWindowBits": 10, "clientMaxWindowBits": 9,
//                "serverNoContextTakeover": true, "clientNoContextTakeover": true},
//    "protocols": ["a", "b"],
//    "messages": [{"type": "text", "size": 125, "kind": "random", "frag": 0}],
//    "close": {"code": 4999, "reason": "bye"}}
//
// deflate, absent or null, offers no permessage-deflate; each of its fields
// is optional. Each message is sent, whole or in fragments of frag bytes
// with a ping between fragments, and its echo must come back equal. Text is
// UTF-8 with characters of 1 to 4 bytes (kind "random") or words (kind
// "words", which compress). After the messages the client closes with close,
// or without close waits for the server to close. A case with
// "expectError": "text" passes if it fails with an error that says text.
//
// It prints one JSON object a line: {"event":"ready","version":V} first,
// then per case {"event":"done","id","port" (the local one),"protocol",
// "extensions" (the Sec-WebSocket-Extensions answered),"messages","pings",
// "pongs","code","reason" (the close received)}, or {"event":"done","id",
// "error"} for an error expected. A failed case prints
// {"event":"error","id","error"} and the client exits with status 1.

const WebSocket = require('ws');
const crypto = require('node:crypto');
const version = require('ws/package.json').version;

function emit(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

const multibyte = Buffer.from('aé€𝄞 ', 'utf8');
const words = ['push', 'wire', 'frame', 'deflate', 'window', 'socket', 'close', 'ping',
  'message', 'fragment', 'server', 'client', 'über', 'naïve', 'π', '→'];

// payload makes a message of exactly size bytes; text is valid UTF-8.
function payload(type, size, kind) {
  if (kind === 'words') {
    const parts = [];
    let n = 0;
    while (n < size) {
      const w = Buffer.from(words[crypto.randomInt(words.length)] + ' ', 'utf8');
      parts.push(w);
      n += w.length;
    }
    return pad(Buffer.concat(parts), size);
  }
  if (type === 'binary') return crypto.randomBytes(size);
  const b = Buffer.alloc(size + multibyte.length);
  for (let i = 0; i < size; i += multibyte.length) multibyte.copy(b, i);
  return pad(b, size);
}

// pad cuts b to size bytes at a character boundary, then fills with 'a'.
function pad(b, size) {
  let n = Math.min(size, b.length);
  while (n > 0 && n < b.length && (b[n] & 0xc0) === 0x80) n--;
  const out = Buffer.alloc(size, 'a');
  b.copy(out, 0, 0, n);
  return out;
}

function deflateOptions(d) {
  if (!d) return false;
  const o = { threshold: 0 };
  if (d.serverMaxWindowBits) o.serverMaxWindowBits = d.serverMaxWindowBits;
  if (d.clientMaxWindowBits) o.clientMaxWindowBits = d.clientMaxWindowBits;
  if (d.serverNoContextTakeover) o.serverNoContextTakeover = true;
  if (d.clientNoContextTakeover) o.clientNoContextTakeover = true;
  return o;
}

function run(c) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(c.url, c.protocols || [], {
      perMessageDeflate: deflateOptions(c.deflate),
      maxPayload: 64 << 20
    });
    const res = { id: c.id, port: 0, protocol: '', extensions: '', messages: 0, pings: 0, pongs: 0 };
    const queue = [...(c.messages || [])];
    let sent = null;
    let sentBinary = false;

    ws.on('upgrade', (resp) => {
      res.port = resp.socket.localPort;
      res.extensions = resp.headers['sec-websocket-extensions'] || '';
    });
    ws.on('error', reject);
    ws.on('pong', () => res.pongs++);

    function next() {
      const m = queue.shift();
      if (!m) {
        if (c.close) ws.close(c.close.code, c.close.reason || '');
        return;
      }
      sent = payload(m.type, m.size, m.kind);
      sentBinary = m.type === 'binary';
      const frag = m.frag || 0;
      if (frag <= 0) {
        ws.send(sent, { binary: sentBinary });
        return;
      }
      let off = 0;
      do {
        const end = Math.min(off + frag, sent.length);
        ws.send(sent.subarray(off, end), { binary: sentBinary, fin: end === sent.length });
        off = end;
        if (off < sent.length) {
          ws.ping();
          res.pings++;
        }
      } while (off < sent.length);
    }

    ws.on('open', () => {
      res.protocol = ws.protocol;
      next();
    });
    ws.on('message', (data, isBinary) => {
      if (sent === null) return reject(new Error('unexpected message'));
      if (isBinary !== sentBinary) {
        return reject(new Error(`echo of a ${sentBinary ? 'binary' : 'text'} message came back ${isBinary ? 'binary' : 'text'}`));
      }
      if (!sent.equals(data)) {
        return reject(new Error(`echo of ${sent.length} bytes differs: got ${data.length} bytes`));
      }
      sent = null;
      res.messages++;
      next();
    });
    ws.on('close', (code, reason) => {
      if (code === 1006) return reject(new Error('connection ended without a close frame'));
      if (queue.length > 0 || sent !== null) {
        return reject(new Error(`closed (${code}) with ${queue.length + (sent ? 1 : 0)} messages not echoed`));
      }
      res.code = code;
      res.reason = reason.toString();
      resolve(res);
    });
  });
}

async function main() {
  emit('ready', { version });
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  for (const line of input.split('\n')) {
    if (!line.trim()) continue;
    const c = JSON.parse(line);
    try {
      emit('done', await run(c));
    } catch (err) {
      if (c.expectError && String(err).includes(c.expectError)) {
        emit('done', { id: c.id, error: String(err) });
        continue;
      }
      emit('error', { id: c.id, error: String(err && err.stack ? err.stack : err) });
      process.exit(1);
    }
  }
}

main().catch((err) => {
  emit('error', { id: '', error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
