package pushwire

import "sync"

// topic is a topic some sessions of this node subscribe to: one broker
// subscription, fanned out to them.
type topic struct {
	name    string
	mu      sync.Mutex
	subs    map[*subscription]struct{}
	writers []*Session // deliver's: the writers it starts once all is queued
	// ready is closed once the broker subscription is made (cancel) or
	// failed (err): Subscribe runs outside Server.mu, since a distributed
	// broker may take round trips, a failover's worth at worst.
	ready  chan struct{}
	cancel func()
	err    error
}

// subscription is a session's subscription to a topic. While its history
// is read (replaying), live publications wait in pending; last is the
// offset of the last publication queued, so that none is queued twice.
type subscription struct {
	sess      *Session
	replaying bool
	pending   []Publication
	epoch     string
	last      uint64
}

// admit reports whether p goes to the subscription: each offset once. When
// the topic's history begins a new life (a broker's stream recreated while
// this node runs), offsets start over: the client is told that
// publications may be lost, never left with a silent gap.
func (sub *subscription) admit(topic string, p Publication) bool {
	if p.Position.Epoch != sub.epoch {
		if sub.epoch != "" && sub.sess.envelope {
			sub.sess.enqueue(lostOut(topic, "history restarted"), "", true)
		}
		sub.epoch, sub.last = p.Position.Epoch, 0
	}
	if p.Position.Offset <= sub.last {
		return false
	}
	sub.last = p.Position.Offset
	return true
}

// join adds sub to the topic, subscribing this node to it at the broker if
// it is the first.
func (s *Server) join(name string, sub *subscription) (*topic, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, ErrShutdown
	}
	t := s.topics[name]
	first := t == nil
	if first {
		t = &topic{name: name, subs: make(map[*subscription]struct{}), ready: make(chan struct{})}
		s.topics[name] = t
	}
	t.mu.Lock()
	t.subs[sub] = struct{}{}
	t.mu.Unlock()
	s.mu.Unlock()
	if first {
		t.cancel, t.err = s.broker.Subscribe(name, func(p Publication) { s.deliver(t, p) })
		close(t.ready)
		if t.err != nil {
			s.mu.Lock()
			if s.topics[name] == t {
				delete(s.topics, name)
			}
			s.mu.Unlock()
		}
	}
	<-t.ready
	if t.err != nil {
		t.leave(sub)
		return nil, t.err
	}
	return t, nil
}

// leave removes sub from the topic, and this node from the topic at the
// broker if it was the last.
func (s *Server) leave(name string, sub *subscription) {
	s.mu.Lock()
	t := s.topics[name]
	if t == nil {
		s.mu.Unlock()
		return
	}
	t.mu.Lock()
	delete(t.subs, sub)
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if empty {
		delete(s.topics, name)
	}
	s.mu.Unlock()
	if empty {
		<-t.ready
		if t.cancel != nil {
			t.cancel() // waits for a delivery under way, which takes t.mu
		}
	}
}

func (t *topic) leave(sub *subscription) {
	t.mu.Lock()
	delete(t.subs, sub)
	t.mu.Unlock()
}

// deliver fans a live publication out to the topic's subscriptions: encoded
// once for all the sessions that speak pushwire.v1, once for those that do
// not.
func (s *Server) deliver(t *topic, p Publication) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var env, raw *outMessage
	for sub := range t.subs {
		if sub.replaying {
			sub.pending = append(sub.pending, p)
			continue
		}
		if !sub.admit(t.name, p) {
			continue
		}
		m := &raw
		if sub.sess.envelope {
			m = &env
		}
		if *m == nil {
			*m = sub.sess.encode(p)
		}
		if start, _ := sub.sess.queueOut(*m, t.name, false); start {
			t.writers = append(t.writers, sub.sess)
		}
	}
	s.writers.start(t.writers)
	clear(t.writers)
	t.writers = t.writers[:0]
}

// goLive ends sub's replay: the live publications that came meanwhile and
// follow last are queued, then each as it comes.
func (t *topic) goLive(sub *subscription, last Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sub.epoch, sub.last = last.Epoch, last.Offset
	for _, p := range sub.pending {
		if sub.admit(t.name, p) {
			sub.sess.enqueue(sub.sess.encode(p), t.name, false)
		}
	}
	sub.pending, sub.replaying = nil, false
}

// lostOut is a "lost" notice for topic.
func lostOut(topic, reason string) *outMessage {
	return newOut(Text, (&envelope{T: kindLost, Topic: topic, Reason: reason}).encode())
}

// encode is a publication as this session's client reads it.
func (s *Session) encode(p Publication) *outMessage {
	if !s.envelope {
		return newOut(p.Type, p.Payload)
	}
	e := &envelope{T: kindPub, Topic: p.Topic, Epoch: p.Position.Epoch, Off: p.Position.Offset}
	e.setPayload(p.Type, p.Payload)
	return newOut(Text, e.encode())
}
