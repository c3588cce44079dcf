package natsbroker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/pushwire/pushwire"
)

// live is this node's subscription to a topic: one consumer at a time,
// fanned out to the local subscribers. A consumer delivers the topic's
// messages from a stream sequence on; when it fails (a gap in its own
// sequence, missed heartbeats, its NATS server gone) the keeper replaces it
// with one starting after the last message delivered. This is what nats.go's
// ordered consumer does, with the failover's requests bounded by
// attemptTimeout rather than its ten seconds.
type live struct {
	b       *Broker
	topic   string
	subject string
	refs    int // local subscribers, guarded by b.mu

	// ready is closed once the first consumer is set up, or failed to
	// (err).
	ready chan struct{}
	err   error

	// The consumer, replaced by the keeper.
	cmu    sync.Mutex
	name   string // the consumer's name: prefix_serial
	prefix string
	serial int    // of the current consumer: older ones' calls are ignored
	next   uint64 // the stream sequence a replacement starts from
	dseq   uint64 // the current consumer's sequence last delivered
	cc     jetstream.ConsumeContext
	kick   chan struct{} // asks the keeper for a replacement
	done   chan struct{} // closed by stop
	kept   sync.WaitGroup

	mu      sync.Mutex // held while a publication is fanned out
	subs    map[*localSub]struct{}
	last    uint64 // the stream sequence last delivered
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
		l = &live{
			b: b, topic: topic, subject: subject, ready: make(chan struct{}),
			prefix: nuid.Next(), kick: make(chan struct{}, 1), done: make(chan struct{}),
			subs: make(map[*localSub]struct{}),
		}
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

// start creates the topic's first consumer, starting after the stream's
// last sequence: every publication stored after Subscribe returns is
// delivered.
func (l *live) start() error {
	ctx, cancel := l.b.bound(context.Background())
	defer cancel()
	info, err := l.b.info(ctx, "")
	if err != nil {
		return err
	}
	l.next = info.State.LastSeq + 1
	err = retry(ctx, l.replace)
	if err != nil {
		return l.b.fail("subscribing", ctx, err)
	}
	l.kept.Go(l.keep)
	return nil
}

// keep replaces the consumer each time it is asked to, until stop.
func (l *live) keep() {
	for {
		select {
		case <-l.done:
			return
		case <-l.kick:
		}
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			ctx, cancel := context.WithTimeout(l.b.ctx, attemptTimeout)
			err := l.replace(ctx)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-l.done:
				return
			case <-time.After(wait):
			}
		}
	}
}

// replace stops the current consumer, if any, and creates the next one,
// starting at l.next. One created by a request whose answer was lost is
// left to NATS, which deletes it once inactive for a minute.
func (l *live) replace(ctx context.Context) error {
	l.cmu.Lock()
	if l.cc != nil {
		l.cc.Stop()
		l.cc = nil
		l.b.deleteLater(l.name)
	}
	l.serial++
	l.dseq = 0
	serial := l.serial
	l.name = l.prefix + "_" + strconv.Itoa(serial)
	cfg := jetstream.ConsumerConfig{
		Name:              l.name,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       l.next,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     l.subject,
		InactiveThreshold: time.Minute,
		Replicas:          1,
		MemoryStorage:     true,
	}
	l.cmu.Unlock()
	cons, err := l.b.js.CreateOrUpdateConsumer(ctx, l.b.opts.Stream, cfg)
	if err != nil {
		return err
	}
	hb := l.b.opts.Heartbeat
	cc, err := cons.Consume(l.handler(serial),
		jetstream.PullHeartbeat(hb), jetstream.PullExpiry(max(jetstream.DefaultExpires, 2*hb)),
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) { l.failed(serial) }))
	if err != nil {
		l.b.deleteLater(cfg.Name)
		return err
	}
	l.cmu.Lock()
	l.cc = cc
	l.cmu.Unlock()
	return nil
}

// handler is consumer serial's message handler.
func (l *live) handler(serial int) jetstream.MessageHandler {
	return func(m jetstream.Msg) {
		md, err := m.Metadata()
		l.cmu.Lock()
		if serial != l.serial {
			l.cmu.Unlock()
			return
		}
		if err != nil || md.Sequence.Consumer != l.dseq+1 {
			l.cmu.Unlock()
			l.failed(serial) // a message missed: start again after the last
			return
		}
		l.dseq = md.Sequence.Consumer
		l.next = md.Sequence.Stream + 1
		l.cmu.Unlock()
		l.fanOut(md.Sequence.Stream, m)
	}
}

// failed asks the keeper to replace consumer serial, unless it was already.
func (l *live) failed(serial int) {
	l.cmu.Lock()
	current := serial == l.serial
	l.cmu.Unlock()
	if current {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// fanOut delivers a message to the local subscribers. One consumer's
// handler runs in stream order, but the last call of a replaced one may
// still run: a message at or before the last delivered is dropped, so
// that each subscriber sees increasing offsets, each once.
func (l *live) fanOut(seq uint64, m jetstream.Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.last {
		return
	}
	l.last = seq
	p := pushwire.Publication{
		Topic:    l.topic,
		Position: pushwire.Position{Epoch: l.b.currentEpoch(), Offset: seq},
		Type:     typeOf(m.Headers(), m.Data()),
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
			l.stop(context.Background())
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

// stop ends the keeper, stops the consumer and deletes it from the stream
// within ctx. One that outlives a failure is deleted by NATS once inactive.
func (l *live) stop(ctx context.Context) {
	close(l.done)
	l.kept.Wait()
	l.cmu.Lock()
	cc, name := l.cc, l.name
	l.cc = nil
	l.serial++
	l.cmu.Unlock()
	if cc != nil {
		cc.Stop()
		l.b.deleteConsumer(ctx, name)
	}
}

// deleteConsumer deletes a consumer of the stream, within ctx and
// attemptTimeout, if NATS is there to ask.
func (b *Broker) deleteConsumer(ctx context.Context, name string) {
	if !b.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	b.js.DeleteConsumer(ctx, b.opts.Stream, name)
}

// deleteLater deletes a replaced consumer without holding up its
// replacement. Close waits for it: keepers, the only callers once the
// broker runs, have stopped by then.
func (b *Broker) deleteLater(name string) {
	b.deletes.Go(func() { b.deleteConsumer(b.ctx, name) })
}

var _ pushwire.Broker = (*Broker)(nil)
