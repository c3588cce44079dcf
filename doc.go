// Package pushwire is server push over HTTP: topics, fan-out and recovery
// across reconnects, over WebSocket (package conn) with a long-polling
// fallback (package longpoll) behind one endpoint.
//
//	srv := pushwire.NewServer(pushwire.Options{})
//	http.Handle("/push/", srv) // WebSocket, long polling, /push/pushwire.js
//	pos, err := srv.Publish(ctx, "prices.EURUSD", pushwire.Text, payload)
//
//	c, err := pushwire.Dial(ctx, "https://example.com/push/", &pushwire.ClientOptions{Topics: []string{"prices.EURUSD"}})
//	ev, err := c.Next(ctx) // every publication once, in order, or an EventLost
//
// A publication gets a Position in its topic's history: an epoch, which
// names one life of the history, and an offset that grows with every
// publication. A client that reconnects, on either transport, sends its last
// position per topic and receives what it missed, then the live
// publications, each once and in order; when history no longer covers its
// position (trimmed, or the epoch changed), it receives a "lost" event for
// the topic and the live publications from there: never a silent gap.
//
// Each session has an outbound queue bounded in messages and bytes
// (Options.MaxQueue, MaxQueueBytes): a client that reads slower than its
// topics are published is closed (Disconnect, the default: it resumes from
// history when it comes back) or loses its oldest publications with a
// "lost" event (DropOldest). It never holds back the others.
//
// # Protocol pushwire.v1
//
// Over WebSocket the protocol is the subprotocol "pushwire.v1": a client
// that asks for no subprotocol gets publications as bare messages and no
// recovery, and every message it sends reaches Options.OnMessage. Over long
// polling (open, poll and send under the same prefix; see package longpoll)
// the protocol is always pushwire.v1. Each message is a JSON object in a
// text message:
//
//	{"t": kind, "topic": name, "epoch": e, "off": n, "data": text | "bin": base64, "reason": text}
//
// Fields that do not apply are absent. Kinds from the client:
//
//	sub     subscribe to topic; with epoch and off, resume after that
//	        publication (without, from now on)
//	unsub   unsubscribe from topic
//	msg     a message to the server, data (text) or bin (binary)
//
// and from the server:
//
//	pub     a publication on topic at (epoch, off), data or bin
//	sub     subscribed to topic: what follows is live; (epoch, off) is the
//	        position the replay reached
//	unsub   unsubscribed from topic
//	lost    publications on topic were lost (reason says why); if epoch
//	        and off are present, publications go on after that position
//	msg     a message to this client alone
//	err     a request refused (topic and reason)
//
// For a topic, the server sends the replayed publications, then "sub", then
// the live ones, offsets increasing. A client drops a publication whose
// offset is not above the last it received in the same epoch. A message
// that is not a JSON object closes the connection with 1003; a request of
// an unknown kind, or refused, is answered with err. Topics are 1 to 256 bytes of UTF-8 without control characters; a
// session subscribes to at most 128 topics (Options.MaxTopics). The server
// closes with 1001 "server shutting down" on Shutdown, 1008 "slow
// consumer" when the queue overflows under Disconnect, and 1013 "broker
// unavailable" when a subscription fails at the broker rather than being
// refused: the client reconnects and resumes.
package pushwire
