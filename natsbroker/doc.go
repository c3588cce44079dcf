// Package natsbroker is a pushwire.Broker on NATS JetStream: every node of
// a cluster runs a pushwire.Server with a Broker of its own, and a
// publication on any node reaches the subscribers of every node, with the
// history clients resume from kept in one replicated stream.
//
//	b, err := natsbroker.Connect(ctx, "nats://a:4222,nats://b:4222,nats://c:4222",
//		natsbroker.Options{Replicas: 3}, nats.UserCredentials("pushwire.creds"))
//	if err != nil { ... }
//	srv := pushwire.NewServer(pushwire.Options{Broker: b}) // Shutdown closes b
//
// Embedded runs a NATS server inside the process instead, with no port
// open: one node, its history on disk.
//
// # Topics and positions
//
// All topics live in one stream (Options.Stream), topic T on the subject
// Options.Subject + "." + base64url(T), so that any topic name (spaces,
// dots, "*", ">") is a single subject token and no topic's subject matches
// another's. Each topic keeps its last History.Messages publications (one
// more, see below) and none older than History.MaxAge; MaxBytes bounds the
// stream as a whole.
//
// A position's offset is the publication's stream sequence, shared by all
// topics: a topic's offsets grow but are not contiguous. Its epoch is the
// stream's creation time, the same on every node; a stream deleted and
// created again is a new epoch, and positions of the old one are
// unrecoverable. Delete the stream only with the nodes stopped: a running
// node's subscriptions would go on from the old stream's sequences, and a
// pushwire.Server drops what it takes for offsets it delivered already.
//
// # When history covers a position
//
// The stream only ever loses publications oldest first: a topic's oldest
// when it holds more than its limit, and the stream's oldest (age, size).
// History therefore takes a position p on topic T as covered when, after
// reading what follows it,
//
//   - the publication at p is still there and is on T: everything after it
//     on T is too; or
//   - nothing after p was trimmed from the front of the stream (its first
//     sequence is at most p+1) and T holds fewer publications than its
//     limit: a trim of T would have left it full.
//
// Otherwise it returns pushwire.ErrUnrecoverable. The stream keeps
// History.Messages+1 publications per topic so that a client
// History.Messages behind still has the publication at its position, as
// with pushwire.MemoryBroker. The rule assumes that only the broker's
// limits remove messages: deleting or purging messages of a topic by hand
// can make it report a gap as covered.
//
// When a topic holds no publication, its latest position is the stream's
// last sequence, so that a client of a quiet topic resumes without loss.
//
// # Live delivery
//
// Each node subscribes once per topic, whatever the number of its local
// subscribers, with an ephemeral JetStream consumer filtered on the topic's
// subject, which starts after the stream's last sequence when the first
// local subscriber comes. When it fails (a gap in its own sequence, missed
// heartbeats, its NATS server lost) another replaces it, starting after the
// last sequence delivered: nothing is repeated, and nothing skipped but what
// the stream trimmed before the consumer reached it, a whole topic's history
// behind. nats.go's ordered consumer does the same, but waits ten seconds
// for an answer lost in a failover; here each request of the replacement
// has two.
//
// Publish gives each publication an id and retries a publish whose answer
// was lost in a failover with the same id: the stream stores it once (if
// the retry comes within its duplicate window, two minutes or MaxAge).
package natsbroker
