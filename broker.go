package pushwire

import (
	"context"
	"errors"

	"github.com/pushwire/pushwire/conn"
)

// MessageType is the type of a message's payload, as on the transports.
type MessageType = conn.MessageType

// The message types.
const (
	Text   = conn.Text
	Binary = conn.Binary
)

// Position is a place in a topic's history. Offsets grow with every message
// published on the topic, but need not be contiguous (a broker may number all
// topics from one sequence). Epoch names one life of the history: when it
// changes (a restart of an in-process broker, a stream recreated), offsets of
// the old epoch mean nothing in the new one.
type Position struct {
	Epoch  string
	Offset uint64
}

// Publication is a message as a broker stores and delivers it.
type Publication struct {
	Topic    string
	Position Position
	Type     MessageType
	// Payload is shared by every subscriber it is delivered to: nobody may
	// modify it.
	Payload []byte
}

// ErrUnrecoverable is returned by Broker.History when the broker cannot
// prove it still holds every publication after the position asked for: the
// epoch changed, or history was trimmed past it.
var ErrUnrecoverable = errors.New("pushwire: history does not cover the position")

// Broker carries publications between the nodes that run a Server and keeps
// each topic's history. MemoryBroker, the default, serves a single node; a
// distributed one lets any node publish to the subscribers of every node.
//
// A Server joins replay and live delivery itself: it subscribes first, then
// reads history, and drops live publications at or below the last offset
// replayed. A Broker therefore owes only this: live publications of a topic
// reach each subscription in offset order, each once, and History returns
// every publication after a position, or ErrUnrecoverable.
type Broker interface {
	// Publish appends a publication to topic's history and delivers it to
	// every subscription to topic, on every node. It returns the position
	// the publication was given. The broker does not retain payload after
	// Publish returns unless it copied it.
	Publish(ctx context.Context, topic string, typ MessageType, payload []byte) (Position, error)
	// Subscribe calls deliver with each publication on topic from now on,
	// in offset order, until cancel is called. deliver must not block: a
	// Server queues what it receives. cancel returns once no deliver call
	// for this subscription runs or will run.
	Subscribe(topic string, deliver func(Publication)) (cancel func(), err error)
	// History returns the publications on topic after since, in offset
	// order, at most limit of them (0: no limit), and the topic's latest
	// position. If since is the zero Position it returns none and the
	// latest position. If since's epoch is not the current one, or
	// publications after since were trimmed, it returns ErrUnrecoverable
	// with the latest position.
	History(ctx context.Context, topic string, since Position, limit int) ([]Publication, Position, error)
	// Close releases the broker. Publish, Subscribe and History fail after.
	Close() error
}
