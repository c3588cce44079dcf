package pushwire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// History bounds what a topic keeps for clients that come back: the last
// Messages publications, at most Bytes of payload, none older than MaxAge.
// Zero fields take the defaults.
type History struct {
	Messages int           // default 1024
	Bytes    int           // default 1 MiB
	MaxAge   time.Duration // default 10 minutes
}

// The defaults of History.
const (
	DefaultHistoryMessages = 1024
	DefaultHistoryBytes    = 1 << 20
	DefaultHistoryAge      = 10 * time.Minute
)

func (h History) withDefaults() History {
	if h.Messages <= 0 {
		h.Messages = DefaultHistoryMessages
	}
	if h.Bytes <= 0 {
		h.Bytes = DefaultHistoryBytes
	}
	if h.MaxAge <= 0 {
		h.MaxAge = DefaultHistoryAge
	}
	return h
}

// ErrBrokerClosed is returned by a broker's calls after Close.
var ErrBrokerClosed = errors.New("pushwire: broker closed")

// MemoryBroker is the in-process Broker, the default: history in memory,
// delivery within the process. Its epoch is new each time one is made, so
// a client that kept positions across a restart learns that its history is
// gone. Topics do not wait for each other: each has a lock of its own.
type MemoryBroker struct {
	hist   History
	epoch  string
	mu     sync.Mutex // guards topics and closed
	topics map[string]*memTopic
	closed bool
}

type memTopic struct {
	// mu is held while a publication is appended and delivered, so that
	// the topic's subscriptions see its publications in offset order
	// whoever publishes.
	mu   sync.Mutex
	name string
	// gone: dropped from the map, having had no publication and no
	// subscription left; whoever finds it so looks the name up again.
	gone bool
	// pubs holds the history, oldest first; its offsets are contiguous.
	pubs  []memPub
	bytes int
	next  uint64 // the offset of the next publication, from 1
	subs  map[*memSub]struct{}
}

type memPub struct {
	pub Publication
	at  time.Time
}

type memSub struct {
	mu      sync.Mutex // held while deliver runs: cancel waits on it
	deliver func(Publication)
	done    bool
}

// NewMemoryBroker returns an in-process broker keeping h's history.
func NewMemoryBroker(h History) *MemoryBroker {
	var b [8]byte
	rand.Read(b[:])
	return &MemoryBroker{hist: h.withDefaults(), epoch: hex.EncodeToString(b[:]), topics: make(map[string]*memTopic)}
}

// topic returns name's state locked, made on first use unless lookup, or
// ErrBrokerClosed; with lookup, nil if there is none.
func (m *MemoryBroker) topic(name string, lookup bool) (*memTopic, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrBrokerClosed
		}
		t := m.topics[name]
		if t == nil && !lookup {
			t = &memTopic{name: name, next: 1, subs: make(map[*memSub]struct{})}
			m.topics[name] = t
		}
		m.mu.Unlock()
		if t == nil {
			return nil, nil
		}
		t.mu.Lock()
		if !t.gone {
			return t, nil
		}
		t.mu.Unlock()
		m.forget(t) // if its drop has not yet
	}
}

// drop forgets t if nothing was published on it and nobody subscribes: a
// name subscribed to and left costs nothing after. One that was published
// on stays, since its offsets must not start again in this epoch. The two
// locks are taken one after the other, never one inside the other, so
// that a deliver that publishes on another topic cannot deadlock with it.
func (m *MemoryBroker) drop(t *memTopic) {
	t.mu.Lock()
	unused := t.next == 1 && len(t.subs) == 0 && !t.gone
	if unused {
		t.gone = true
	}
	t.mu.Unlock()
	if unused {
		m.forget(t)
	}
}

// forget takes t, gone, out of the map.
func (m *MemoryBroker) forget(t *memTopic) {
	m.mu.Lock()
	if m.topics[t.name] == t {
		delete(m.topics, t.name)
	}
	m.mu.Unlock()
}

// Publish appends to topic's history and delivers to its subscriptions, in
// the caller's goroutine. payload is copied.
func (m *MemoryBroker) Publish(ctx context.Context, topic string, typ MessageType, payload []byte) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	t, err := m.topic(topic, false)
	if err != nil {
		return Position{}, err
	}
	defer t.mu.Unlock()
	pub := Publication{Topic: topic, Position: Position{m.epoch, t.next}, Type: typ, Payload: append([]byte(nil), payload...)}
	t.next++
	now := time.Now()
	t.pubs = append(t.pubs, memPub{pub, now})
	t.bytes += len(pub.Payload)
	m.trim(t, now)
	for s := range t.subs {
		s.mu.Lock()
		if !s.done {
			s.deliver(pub)
		}
		s.mu.Unlock()
	}
	return pub.Position, nil
}

// trim drops what History no longer keeps. The caller holds t.mu.
func (m *MemoryBroker) trim(t *memTopic, now time.Time) {
	drop := 0
	for drop < len(t.pubs) && (len(t.pubs)-drop > m.hist.Messages || t.bytes > m.hist.Bytes || now.Sub(t.pubs[drop].at) > m.hist.MaxAge) {
		t.bytes -= len(t.pubs[drop].pub.Payload)
		drop++
	}
	if drop > 0 {
		clear(t.pubs[:drop])
		t.pubs = t.pubs[drop:]
	}
}

// Subscribe calls deliver with each publication on topic from now on.
func (m *MemoryBroker) Subscribe(topic string, deliver func(Publication)) (cancel func(), err error) {
	t, err := m.topic(topic, false)
	if err != nil {
		return nil, err
	}
	s := &memSub{deliver: deliver}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		delete(t.subs, s)
		t.mu.Unlock()
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
		m.drop(t)
	}, nil
}

// History returns the publications on topic after since.
func (m *MemoryBroker) History(ctx context.Context, topic string, since Position, limit int) ([]Publication, Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, Position{}, err
	}
	t, err := m.topic(topic, true)
	if err != nil {
		return nil, Position{}, err
	}
	if t == nil {
		// Never published on: offsets start at 1.
		t = &memTopic{next: 1}
	} else {
		defer t.mu.Unlock()
	}
	m.trim(t, time.Now())
	latest := Position{m.epoch, t.next - 1}
	if since == (Position{}) {
		return nil, latest, nil
	}
	if since.Epoch != m.epoch || since.Offset > latest.Offset {
		return nil, latest, ErrUnrecoverable
	}
	first := t.next - uint64(len(t.pubs)) // the oldest kept
	if since.Offset+1 < first {
		return nil, latest, ErrUnrecoverable
	}
	kept := t.pubs[since.Offset+1-first:]
	if limit > 0 && len(kept) > limit {
		kept = kept[:limit]
	}
	out := make([]Publication, len(kept))
	for i, p := range kept {
		out[i] = p.pub
	}
	return out, latest, nil
}

// Close ends the broker.
func (m *MemoryBroker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
