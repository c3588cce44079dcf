// Package longpoll is server push over HTTP long polling, for clients that
// cannot use WebSocket (a proxy that strips Upgrade, a network that blocks
// it). A Session on the server and a Client in Go both satisfy
// conn.MessageConn, so application code does not care which transport it
// got; DialFallback tries WebSocket first, and a session that starts on
// polls may move to a WebSocket (DialOptions.Upgrade). A dependency-free JavaScript
// client with the browser's WebSocket API (and pushwireConnect, WebSocket
// first then long polling) is served at <prefix>/client.js; its API is at
// the top of that file.
//
//	h := longpoll.NewHandler(nil)
//	http.Handle("/lp/", h)
//	s, err := h.Accept(ctx) // a *Session, in a loop
//
//	c, err := longpoll.Dial(ctx, "https://example.com/lp", nil)
//
// # Protocol
//
// Endpoints, under the handler's prefix (the last path element names the
// operation). The session id, 128 random bits in hex, travels in the URL
// (id=, or the Pushwire-Session header), never in a cookie:
//
//	POST open?hold=MS&interval=MS -> 200 {"id", "hold" ms, "interval" ms, "grace" ms, "maxBody" bytes}
//	GET  poll?id=ID&ack=N[&t=T]   -> 200 batch: held up to hold until there is one, else empty
//	                                (with Pushwire-Resume, see Roaming: Pushwire-Session: NEWID)
//	POST send?id=ID&ack=N batch   -> 204, Pushwire-Ack: the last sequence the server took
//	GET  upgrade?id=ID&ack=N&t=T  -> 101, the session on a WebSocket (Options.Upgrade)
//	GET  client.js                -> the JavaScript client
//
// The client proposes how polls are held; open's answer says what the
// server granted, and both sides use that. Without hold the hold is the
// server's, Options.Hold. With hold=MS (a proxy that cuts idle requests at
// 10 s wants 8000) it is the lesser of MS and Options.Hold: a larger
// number, even one past 64 bits, is clamped. hold=0 asks for plain
// polling, for networks that cut every held request: the server answers
// each poll at once, empty if nothing is new, and the client polls every
// interval=MS, at most half the grace period (a larger one is clamped) so
// that a session outlives a lost poll. The answer's "interval" is 0 but
// with hold 0. A hold or interval that is not a decimal number (a negative
// one included), interval=0, hold=0 without an interval, and an interval
// with any other hold, are answered 400.
//
// A batch is the uvarint sequence number of its first record, then the
// records, each numbered one more than the one before: a kind byte (1 text,
// 2 binary, 8 close), a uvarint length and the payload. A close's payload
// is empty (no status, 1005) or a 2-byte big-endian code and a UTF-8 reason
// of at most 123 bytes, as in a WebSocket close frame; nothing follows it.
// Text is UTF-8. An empty batch is zero bytes. Varints are minimal: a batch
// has exactly one encoding.
//
// Acknowledgements: each direction numbers its messages from 1, and each
// poll and send carries in ack the last sequence its sender has received in
// order. A side keeps what it sent until the peer acknowledges it and sends
// it again (the next poll's answer, the next send) when an answer or a
// request was lost; a receiver skips sequences it already has and takes
// none past a gap. Delivery is so exactly once and in order across dropped
// requests, answers and connections. An ack of a sequence never sent, a
// malformed batch or query is 400; a body over the limit 413.
//
// Upgrade: a session opened on polls may move to a WebSocket, for its
// lower latency and cost, without losing, repeating or reordering a
// message either way. The WebSocket stands for the session's poll: the
// poll it replaces is answered, a later poll (the client lost the
// WebSocket) ends it, and the client polls and sends over HTTP again until
// it tries anew. The client numbers its attempts (t), bumps the number when
// it gives one up, and sends the latest with its polls: a poll with a
// smaller t than the WebSocket's was sent before the upgrade and is
// answered empty at once, the WebSocket left alone. Each WebSocket message is binary: the uvarint ack of its
// sender, then a batch, empty for an ack alone. Each side first sends its
// ack alone, then the records the peer lacks from there, and its ack again
// whenever it received more. A side silent for a third of the grace
// period sends its ack alone; one that hears nothing for the whole grace
// period drops the WebSocket. A text message, a malformed ack or batch, or
// a gap in the records fails the session (1002).
//
// Roaming: behind a balancer without affinity a poll or send may reach a
// node that does not know its session. A client whose application can
// resume (the push layer's: its subscriptions and positions say all a
// server needs) sends with each poll and send a Pushwire-Resume header,
// the base64url (unpadded) encoding of a batch of text records numbered
// from 1: the messages that open a session in its place. A handler with
// Options.Adopt answers such a request for an unknown id by opening a
// session (Open runs on the request; its query may carry open's hold
// proposal) whose first messages from the client are those records, and
// serves the request on it, naming it in a Pushwire-Session header; its
// ack is ignored, and a send's records follow the opening ones whatever
// their numbers. The client then takes the new id: the new session's
// records count from 1, and what the old one was not seen to acknowledge
// follows the opening records and goes again. A poll's answer that names
// a new session is taken even after a move since (only one poll is in
// flight, and the session starts from what the client had); what a
// session the client has left acknowledges counts as arrived; any other
// answer for such a session is dropped. A message to the server so
// arrives once but when an answer is lost on the way, and then a second
// time at the new session. What the old session held for the client is
// not delivered: the opening records must let the application derive it.
// Each request names in Pushwire-Left (comma-separated, at most 4) the
// last sessions the client left, which a node that holds them ends at
// once rather than at the end of their grace period (a 404 for a request
// to one of them is then no failure: it goes again). A header that is not
// such a batch, or ends with a close, is 400; one over the body limit 413.
//
// A session needs at most two requests in flight, one poll and one send; a
// second poll answers the first at once, empty. Each direction's queue is
// bounded in messages and bytes: a Session's WriteMessage waits for room
// (or fails with ErrQueueFull, by option; WritePrepared queues a broadcast's
// messages in order, their payloads shared, not copied), a send that finds the server's
// incoming queue full is answered with the ack of what fitted, and a client
// with no room left stops polling until the application reads, but polls at
// least every half grace period. A session not polled within the grace
// period expires and reports a CloseError with CloseAbnormal (Err
// ErrExpired); its id is then answered 404 exactly as one that never
// existed. A close is a record like the messages: the side that closes
// waits for the peer to acknowledge it; the receiving side reports it from
// ReadMessage.
//
// Every answer carries Cache-Control: no-store and is flushed at once. The
// origin policy is WebSocket's: a request without Origin is allowed, one
// with an Origin whose host is not the request's Host (nor the host a proxy
// of Options.TrustedProxies forwarded, nor matches Options.OriginPatterns,
// or Options.CheckOrigin says no) gets 403 saying why. No CORS
// header is sent unless Options.CORS is set.
package longpoll
