package natsbroker

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushwire/pushwire"
)

// live is this node's subscription to a topic: one ordered consumer, fanned
// out to the local subscribers.
type live struct {
	b       *Broker
	topic   string
	subject string
	refs    int // local subscribers, guarded by b.mu

	// ready is closed once the consumer is set up, or failed to (err).
	ready chan struct{}
	err   error
	cons  jetstream.Consumer
	cc    jetstream.ConsumeContext

	mu      sync.Mutex // held while a publication is fanned out
	subs    map[*localSub]struct{}
	last    uint64 // the sequence last delivered
	retired bool   // the broker closed: takes no subscriber
}

// localSub is one Subscribe call's subscription.
type localSub struct {
	mu      sync.Mutex // held while deliver runs: cancel waits on it
	deliver func(pushwire.Publication)
	done    bool
}

// Subscribe calls deliver with each publication on topic published after
// it returns, in offset order, from one goroutine per topic, until cancel
// is called. The node's first subscription to a topic creates its consumer,
// within Options.Timeout; the others share it.
func (b *Broker) Subscribe(topic string, deliver func(pushwire.Publication)) (cancel func(), err error) {
	subject, err := b.open(topic)
	if err != nil {
		return nil, err
	}
	s := &localSub{deliver: deliver}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, pushwire.ErrBrokerClosed
	}
	l := b.live[topic]
	first := l == nil
	if first {
		l = &live{b: b, topic: topic, subject: subject, ready: make(chan struct{}), subs: make(map[*localSub]struct{})}
		b.live[topic] = l
	}
	l.refs++
	b.mu.Unlock()
	// Added before the consumer starts, or while it runs: either way it
	// receives every publication delivered after this.
	l.mu.Lock()
	if !l.retired {
		l.subs[s] = struct{}{}
	}
	l.mu.Unlock()
	if first {
		l.err = l.start()
		close(l.ready)
	}
	<-l.ready
	err = l.err
	l.mu.Lock()
	if l.retired {
		err = pushwire.ErrBrokerClosed
	}
	l.mu.Unlock()
	if err != nil {
		b.leave(l, s)
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { b.leave(l, s) }) }, nil
}

// start creates the topic's consumer, starting after the stream's last
// sequence: every publication stored after Subscribe returns is delivered.
// The start is explicit, not "deliver new": an ordered consumer that fails
// before its first message starts again from it.
func (l *live) start() error {
	ctx, cancel := l.b.bound(context.Background())
	defer cancel()
	info, err := l.b.info(ctx, "")
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{l.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	}
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		l.cons, err = l.b.js.OrderedConsumer(ctx, l.b.opts.Stream, cfg)
		return err
	})
	if err != nil {
		return l.b.fail("subscribing", ctx, err)
	}
	var opts []jetstream.PullConsumeOpt
	if hb := l.b.opts.Heartbeat; hb > 0 {
		opts = append(opts, jetstream.PullHeartbeat(hb), jetstream.PullExpiry(max(jetstream.DefaultExpires, 2*hb)))
	}
	l.cc, err = l.cons.Consume(l.handle, opts...)
	if err != nil {
		l.deleteConsumer(ctx)
		return l.b.fail("subscribing", ctx, err)
	}
	return nil
}

// handle fans a message out to the local subscribers. The ordered consumer
// calls it in stream order; a message at or before the last one delivered
// (a consumer started again while its predecessor's last call ran) is
// dropped, so that each subscriber sees increasing offsets.
func (l *live) handle(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.last {
		return
	}
	l.last = seq
	p := pushwire.Publication{
		Topic:    l.topic,
		Position: pushwire.Position{Epoch: l.b.currentEpoch(), Offset: seq},
		Type:     typeOf(m.Headers()),
		Payload:  m.Data(),
	}
	for s := range l.subs {
		s.mu.Lock()
		if !s.done {
			s.deliver(p)
		}
		s.mu.Unlock()
	}
}

// leave ends s, and the topic's consumer if s was its last subscriber.
func (b *Broker) leave(l *live, s *localSub) {
	s.mu.Lock()
	s.done = true // no deliver call from here on
	s.mu.Unlock()
	l.mu.Lock()
	delete(l.subs, s)
	l.mu.Unlock()
	b.mu.Lock()
	l.refs--
	last := l.refs == 0 && b.live[l.topic] == l // else Close stops it
	if last {
		delete(b.live, l.topic)
		b.bg.Add(1)
	}
	b.mu.Unlock()
	if last {
		go func() {
			defer b.bg.Done()
			<-l.ready
			ctx, cancel := b.bound(context.Background())
			defer cancel()
			l.stop(ctx)
		}()
	}
}

// retire ends every local subscription: no deliver call runs after it.
func (l *live) retire() {
	l.mu.Lock()
	l.retired = true
	subs := l.subs
	l.subs = make(map[*localSub]struct{})
	l.mu.Unlock()
	for s := range subs {
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
	}
}

// stop stops the consumer, if it started, and deletes it from the stream,
// within ctx; one that outlives a failure is deleted by NATS once inactive.
func (l *live) stop(ctx context.Context) {
	if l.cc != nil {
		l.cc.Stop()
	}
	if l.cons != nil {
		l.deleteConsumer(ctx)
	}
}

func (l *live) deleteConsumer(ctx context.Context) {
	info := l.cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	l.b.js.DeleteConsumer(ctx, l.b.opts.Stream, info.Name)
}

var _ pushwire.Broker = (*Broker)(nil)
