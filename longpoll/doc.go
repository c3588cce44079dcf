// Package longpoll is server push over HTTP long polling, for clients that
// cannot use WebSocket (a proxy that strips Upgrade, a network that blocks
// it). A Session on the server and a Client in Go both satisfy
// conn.MessageConn, so application code does not care which transport it
// got; a JavaScript client with the browser WebSocket API is served at
// <prefix>/client.js.
//
// # Protocol
//
// All under the handler's prefix; the session id (128 random bits, hex)
// travels in the URL, never in a cookie:
//
//	POST open                   -> 200 {"id": ..., "hold": ms, "grace": ms}
//	GET  poll?id=ID&ack=N       -> 200 batch, held up to hold until there is one (else empty)
//	POST send?id=ID&ack=N batch -> 204, header Pushwire-Ack: the last sequence taken
//
// A batch is the uvarint sequence number of its first record, then the
// records, each numbered one more than the one before: a kind byte (1 text,
// 2 binary, 8 close), a uvarint length and the payload (for a close, empty
// or a 2-byte code and a reason). An empty batch is zero bytes. Each
// direction numbers its messages from 1.
// ack is the last sequence the sender of the request received in order: the
// server keeps every message until the client acknowledges it and sends it
// again on the next poll if an answer was lost, and each side drops what it
// has already taken. Delivery is therefore exactly once and in order across
// lost requests and answers. A second poll for a session answers the first
// one, empty. A session not polled for grace expires (404, as for an id that
// never existed) and its ReadMessage reports CloseAbnormal. Every response
// carries Cache-Control: no-store; a session needs at most two requests in
// flight, a poll and a send.
package longpoll
