'use strict';
// An echo server on Node's ws, the peer of interop's tests for pushwire's
// client. It echoes every message with its type and bytes.
//
//   node echo_server.js [--port N] [--deflate] [--server-max-window-bits N]
//     [--client-max-window-bits N] [--server-no-context-takeover]
//     [--client-no-context-takeover] [--subprotocols a,b]
//
// With --deflate it accepts permessage-deflate, with the client's parameters
// unless a flag imposes one. Of the subprotocols the client offers, it picks
// the first in its own list. Each connection's query string says what to do:
//   id=S        names the connection in the events below
//   frag=N      echo in fragments of N bytes, with a ping between fragments
//   close=C     close at once with code C and reason=R, instead of echoing
//
// It prints one JSON object per line: {"event":"ready","port":N,"version":V}
// once listening, then per connection "open" (protocol, extensions: the
// Sec-WebSocket-Extensions it answered) and "close" (the code and reason
// received, messages echoed, pings sent and pongs received). Any error, or a
// connection that ends without a close frame, prints an "error" event and
// exits with status 1.

const { parseArgs } = require('node:util');
const { WebSocketServer } = require('ws');
const version = require('ws/package.json').version;

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    deflate: { type: 'boolean', default: false },
    'server-max-window-bits': { type: 'string' },
    'client-max-window-bits': { type: 'string' },
    'server-no-context-takeover': { type: 'boolean', default: false },
    'client-no-context-takeover': { type: 'boolean', default: false },
    subprotocols: { type: 'string', default: '' }
  }
});

function emit(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

function fail(id, err) {
  emit('error', { id, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

let perMessageDeflate = false;
if (opt.deflate) {
  perMessageDeflate = { threshold: 0 };
  if (opt['server-max-window-bits'] !== undefined) {
    perMessageDeflate.serverMaxWindowBits = Number(opt['server-max-window-bits']);
  }
  if (opt['client-max-window-bits'] !== undefined) {
    perMessageDeflate.clientMaxWindowBits = Number(opt['client-max-window-bits']);
  }
  if (opt['server-no-context-takeover']) perMessageDeflate.serverNoContextTakeover = true;
  if (opt['client-no-context-takeover']) perMessageDeflate.clientNoContextTakeover = true;
}
const supported = opt.subprotocols ? opt.subprotocols.split(',') : [];

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(opt.port),
  perMessageDeflate,
  handleProtocols: (offered) => supported.find((p) => offered.has(p)) || false
});

wss.on('error', (err) => fail('', err));
wss.on('listening', () => emit('ready', { port: wss.address().port, version }));

wss.on('headers', (headers, req) => {
  const ext = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  req.extensions = ext ? ext.slice(ext.indexOf(':') + 1).trim() : '';
});

wss.on('connection', (ws, req) => {
  const q = new URL(req.url, 'ws://x').searchParams;
  const id = q.get('id') || '';
  const frag = Number(q.get('frag') || 0);
  let messages = 0;
  let pings = 0;
  let pongs = 0;
  emit('open', { id, protocol: ws.protocol, extensions: req.extensions });

  ws.on('error', (err) => fail(id, err));
  ws.on('pong', () => pongs++);
  ws.on('close', (code, reason) => {
    if (code === 1006) fail(id, 'connection ended without a close frame');
    emit('close', { id, code, reason: reason.toString(), messages, pings, pongs });
  });

  if (q.has('close')) {
    ws.close(Number(q.get('close')), q.get('reason') || '');
    return;
  }
  ws.on('message', (data, isBinary) => {
    messages++;
    if (frag <= 0) {
      ws.send(data, { binary: isBinary });
      return;
    }
    // Fragments split the bytes anywhere, inside a UTF-8 sequence too.
    let off = 0;
    do {
      const end = Math.min(off + frag, data.length);
      ws.send(data.subarray(off, end), { binary: isBinary, fin: end === data.length });
      off = end;
      if (off < data.length) {
        ws.ping();
        pings++;
      }
    } while (off < data.length);
  });
});
