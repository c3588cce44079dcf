package pushwire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// Session is one client's connection to a Server, the same whichever
// transport the client got. Its methods are safe for concurrent use.
type Session struct {
	srv       *Server
	mc        conn.MessageConn
	ws        *conn.Conn // nil on long polling
	transport string
	envelope  bool // the client speaks pushwire.v1
	value     any

	values sync.Map
	// ctx ends with the session: what it waits for (history, drain)
	// stops then.
	ctx    context.Context
	cancel context.CancelFunc

	pooled bool         // the writer pool writes for it (see writerPool)
	wstate atomic.Int32 // the pool's: wsIdle, wsWriting, wsBlocked

	// The outbound queue, drained while it holds something (writing) by
	// the writer pool or, for the sessions it does not take, a writer
	// goroutine of their own: an idle session keeps none.
	mu    sync.Mutex
	queue []outgoing
	bytes int
	// forcedN and forcedBytes count what the queue holds past its bounds
	// (replays, protocol messages): the bounds apply to the rest, so that
	// a client catching up from history is not closed for its backlog.
	forcedN, forcedBytes int
	writing              bool
	subs                 map[string]*subscription
	slow                 bool // closed for a full queue: takes nothing more
	ended                bool
	endErr               error
	closeOne             sync.Once
}

// outgoing is a message queued for a session: a shared broadcast, or one of
// its own.
type outgoing struct {
	msg    *outMessage
	topic  string // a publication's, for DropOldest's notice
	forced bool   // queued past the bounds: a replay or a protocol message
}

// outMessage is a message as it goes to any number of sessions: framed
// once for WebSocket, its payload shared with long polling.
type outMessage struct {
	pm *conn.PreparedMessage
}

func newOut(typ MessageType, payload []byte) *outMessage {
	pm, _ := conn.NewPreparedMessage(typ, payload) // typ is valid: ours
	return &outMessage{pm: pm}
}

func (s *Server) newSession(mc conn.MessageConn, ws *conn.Conn, transport string, envelope bool, value any) *Session {
	sess := &Session{
		srv: s, mc: mc, ws: ws, transport: transport, envelope: envelope, value: value,
		subs: make(map[string]*subscription),
	}
	sess.ctx, sess.cancel = context.WithCancel(context.Background())
	if ws != nil {
		sess.pooled = ws.NotifyWriteBlock(func() { s.writers.blocked(sess) })
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1) // run; a writer adds itself while it runs
	return sess
}

// Value returns what Options.Authenticate returned for the session's
// opening request.
func (s *Session) Value() any { return s.value }

// Set and Get hold the application's per-session values.
func (s *Session) Set(key, value any) { s.values.Store(key, value) }

// Get returns the value Set stored under key, or nil.
func (s *Session) Get(key any) any {
	v, _ := s.values.Load(key)
	return v
}

// Transport returns "websocket" or "longpoll".
func (s *Session) Transport() string { return s.transport }

// RemoteAddr returns the client's address, as the transport sees it.
func (s *Session) RemoteAddr() net.Addr { return s.mc.RemoteAddr() }

// Protocol reports whether the client speaks pushwire.v1: without it (a
// plain WebSocket client), publications reach it as bare messages, with no
// recovery, and every message it sends goes to OnMessage.
func (s *Session) Protocol() bool { return s.envelope }

// run reads the client's messages until the session ends.
func (s *Session) run() {
	defer s.srv.wg.Done()
	if s.srv.opts.OnOpen != nil {
		aside(func() error { s.srv.opts.OnOpen(s); return nil })
	}
	var buf []byte
	var err error
	for {
		var typ MessageType
		var msg []byte
		typ, msg, err = s.mc.ReadMessage(context.Background(), buf)
		if err != nil {
			break
		}
		s.srv.stats.msgsIn.Add(1)
		s.srv.stats.bytesIn.Add(uint64(len(msg)))
		if err = aside(func() error { return s.received(typ, msg) }); err != nil {
			break
		}
		buf = msg
	}
	s.end(err)
	if s.srv.opts.OnClose != nil {
		s.srv.opts.OnClose(s, err)
	}
}

// aside runs f on a goroutine of its own and waits for it. Handling a
// message (JSON, subscribing, the application's callbacks) takes a deep
// call chain: on the reader's goroutine it would grow the stack that the
// reader parks on between messages to 4 KiB for good, since a collection
// shrinks a stack only when under a quarter of it is in use. Clients of a
// push server send little; each message costs a goroutine start.
func aside(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
}

// received handles one message from the client.
func (s *Session) received(typ MessageType, msg []byte) error {
	if !s.envelope {
		if s.srv.opts.OnMessage != nil {
			s.srv.opts.OnMessage(s, typ, msg)
		}
		return nil
	}
	e, err := decodeEnvelope(typ, msg)
	if err != nil {
		s.closeAsync(conn.CloseUnsupportedData, "malformed envelope")
		return err
	}
	switch e.T {
	case kindSub:
		err := s.clientSubscribe(e.Topic, e.position())
		if errors.Is(err, errBroker) {
			// Not a refusal: the client reconnects, here or to another
			// node, and resumes every topic.
			s.closeAsync(conn.CloseTryAgainLater, "broker unavailable")
			return err
		}
		if err != nil {
			s.sendControl(&envelope{T: kindErr, Topic: e.Topic, Reason: err.Error()})
		}
	case kindUnsub:
		s.Unsubscribe(e.Topic)
		s.sendControl(&envelope{T: kindUnsub, Topic: e.Topic})
	case kindMsg:
		if s.srv.opts.OnMessage != nil {
			t, p := e.payload()
			s.srv.opts.OnMessage(s, t, p)
		}
	default:
		s.sendControl(&envelope{T: kindErr, Reason: "unknown kind " + e.T})
	}
	return nil
}

func (s *Session) clientSubscribe(topic string, since Position) error {
	if s.srv.opts.CanSubscribe != nil {
		if err := s.srv.opts.CanSubscribe(s, topic); err != nil {
			return err
		}
	}
	return s.subscribe(topic, since)
}

// errBroker marks a subscription that failed at the broker (Subscribe,
// History), not one refused: a client's is not answered "err" but closed
// with 1013, to reconnect and resume.
var errBroker = errors.New("pushwire: broker unavailable")

// ErrTooManyTopics is returned by a subscription past Options.MaxTopics.
var ErrTooManyTopics = errors.New("pushwire: too many topics for one session")

// Subscribe subscribes the session to topic from now on.
func (s *Session) Subscribe(topic string) error { return s.subscribe(topic, Position{}) }

// subscribe subscribes from since: what the session missed after it, from
// history, then the live publications, each once and in order.
func (s *Session) subscribe(name string, since Position) error {
	if err := s.srv.checkTopic(name); err != nil {
		return err
	}
	s.mu.Lock()
	_, already := s.subs[name]
	switch {
	case s.ended:
		s.mu.Unlock()
		return conn.ErrClosed
	case already:
		s.mu.Unlock()
		return nil
	case len(s.subs) >= s.srv.opts.MaxTopics:
		s.mu.Unlock()
		return ErrTooManyTopics
	}
	sub := &subscription{sess: s, replaying: true}
	s.subs[name] = sub
	s.mu.Unlock()

	t, err := s.srv.join(name, sub)
	if err != nil {
		s.mu.Lock()
		delete(s.subs, name)
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", errBroker, err)
	}
	// Live publications wait in sub.pending while history is read.
	var last, latest Position
	if since == (Position{}) {
		_, latest, err = s.srv.broker.History(s.ctx, name, since, 0)
		last = latest
	} else {
		last, latest, err = s.replay(name, since)
	}
	switch {
	case errors.Is(err, ErrUnrecoverable):
		s.srv.stats.recoveryFailed.Add(1)
		s.sendControl(&envelope{T: kindLost, Topic: name, Epoch: latest.Epoch, Off: latest.Offset, Reason: "history does not cover the position"})
		last = latest
	case err != nil:
		s.srv.leave(name, sub) // and the broker subscription, if it was the last
		s.mu.Lock()
		delete(s.subs, name)
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", errBroker, err)
	case since != (Position{}):
		s.srv.stats.recovered.Add(1)
	}
	s.sendControl(&envelope{T: kindSub, Topic: name, Epoch: last.Epoch, Off: last.Offset})
	t.goLive(sub, last)
	return nil
}

// replayChunk bounds the publications one History call reads: a replay is
// queued as it is read, so that its first publications go out while the
// rest is read (a roaming long-polling client moves on with each answer).
const replayChunk = 256

// replay queues the publications on name after since, and returns the
// position of the last one queued (since if none) and the topic's latest.
func (s *Session) replay(name string, since Position) (last, latest Position, err error) {
	last = since
	for {
		pubs, lat, err := s.srv.broker.History(s.ctx, name, last, replayChunk)
		if err != nil {
			return last, lat, err
		}
		latest = lat
		for _, p := range pubs {
			s.enqueue(s.encode(p), name, true)
		}
		if len(pubs) > 0 {
			last = pubs[len(pubs)-1].Position
		}
		if len(pubs) < replayChunk {
			return last, latest, nil
		}
	}
}

// Unsubscribe ends the session's subscription to topic, if any.
func (s *Session) Unsubscribe(topic string) {
	s.mu.Lock()
	sub := s.subs[topic]
	delete(s.subs, topic)
	s.mu.Unlock()
	if sub != nil {
		s.srv.leave(topic, sub)
	}
}

// Send sends a message to this session's client alone. A Text message must
// be UTF-8 (ErrNotUTF8).
func (s *Session) Send(ctx context.Context, typ MessageType, data []byte) error {
	if typ != Text && typ != Binary {
		return conn.ErrMessageType
	}
	if typ == Text && !utf8.Valid(data) {
		return ErrNotUTF8
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.envelope {
		// Queued, not yet written: the caller may reuse data.
		return s.enqueue(newOut(typ, bytes.Clone(data)), "", false)
	}
	e := &envelope{T: kindMsg}
	e.setPayload(typ, data)
	return s.enqueue(newOut(Text, e.encode()), "", false)
}

// SendJSON sends v, encoded as JSON, to this session's client alone.
func (s *Session) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Send(ctx, Text, b)
}

// sendControl queues a protocol message, past the queue's bound: they are
// few and small, and the client needs them to make sense of the rest.
func (s *Session) sendControl(e *envelope) {
	if s.envelope {
		s.enqueue(newOut(Text, e.encode()), "", true)
	}
}

// ErrSlowConsumer is the cause of a session closed by Disconnect.
var ErrSlowConsumer = errors.New("pushwire: slow consumer: outbound queue full")

// enqueue queues m for the writer. Past the queue's bounds the slow
// consumer policy applies, unless force (replays and protocol messages).
func (s *Session) enqueue(m *outMessage, topic string, force bool) error {
	start, err := s.queueOut(m, topic, force)
	if start {
		s.srv.writers.start([]*Session{s})
	}
	return err
}

// queueOut is enqueue without the writer's start: it reports whether the
// caller must start one.
func (s *Session) queueOut(m *outMessage, topic string, force bool) (bool, error) {
	n := len(m.pm.Payload())
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false, conn.ErrClosed
	}
	if s.slow {
		s.mu.Unlock()
		return false, ErrSlowConsumer
	}
	full := len(s.queue)-s.forcedN+1 > s.srv.opts.MaxQueue || s.bytes-s.forcedBytes+n > s.srv.opts.MaxQueueBytes
	if full && !force {
		if s.srv.opts.SlowConsumer == Disconnect {
			s.slow = true
			s.queue, s.bytes, s.forcedN, s.forcedBytes = nil, 0, 0, 0 // it will not be read
			s.mu.Unlock()
			s.srv.stats.slow.Add(1)
			s.closeAsync(conn.ClosePolicyViolation, "slow consumer")
			return false, ErrSlowConsumer
		}
		s.dropOldest(n)
	}
	s.queue = append(s.queue, outgoing{m, topic, force})
	s.bytes += n
	if force {
		s.forcedN++
		s.forcedBytes += n
	}
	start := !s.writing
	if start {
		// run holds the WaitGroup until the session ends, and an ended
		// session takes nothing: this Add never races Shutdown's Wait.
		s.writing = true
		s.srv.wg.Add(1)
	}
	s.mu.Unlock()
	return start, nil
}

// dropOldest drops the oldest publications within the bounds until a
// message of n bytes fits, and queues a "lost" notice for each topic that
// lost some. The caller holds mu.
func (s *Session) dropOldest(n int) {
	lost := map[string]bool{}
	fits := func() bool {
		return len(s.queue)-s.forcedN+len(lost) < s.srv.opts.MaxQueue && s.bytes-s.forcedBytes+n <= s.srv.opts.MaxQueueBytes
	}
	kept := s.queue[:0]
	for i, o := range s.queue {
		if fits() {
			kept = append(kept, s.queue[i:]...)
			break
		}
		if o.forced || o.topic == "" {
			kept = append(kept, o)
			continue
		}
		s.bytes -= len(o.msg.pm.Payload())
		lost[o.topic] = true
		s.srv.stats.drops.Add(1)
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	for topic := range lost {
		m := lostOut(topic, "slow consumer: publications dropped")
		s.queue = append(s.queue, outgoing{m, "", true})
		s.bytes += len(m.pm.Payload())
		s.forcedN++
		s.forcedBytes += len(m.pm.Payload())
	}
}

// Bounds of what the writer hands to a transport in one call: a batch goes
// out in as few system calls as it fits (conn.WritePrepared), or wakes a
// long poll once.
const (
	batchMessages = 64
	batchBytes    = 64 << 10
)

// writeLoop writes what the queue holds, and returns once it is empty: a
// goroutine per burst rather than one parked per session, whose stack
// (grown to 4 KiB by a write) an idle subscriber would keep. It writes for
// the sessions the writer pool does not take (long polling, TLS, HTTP/2).
func (s *Session) writeLoop() {
	// Started by a publication, the writer lets the publisher run first:
	// what it publishes next then rides in the same write. The second
	// yield puts it behind the writers its publication started, which
	// leaves the publisher longer still. With nothing else to run, a
	// yield returns at once.
	runtime.Gosched()
	runtime.Gosched()
	for s.writeBatch() {
	}
}

// writeBatch writes the queue's next batch and reports whether more is
// queued; if not, the session's writer has ended.
func (s *Session) writeBatch() bool {
	var batch [batchMessages]*conn.PreparedMessage
	s.mu.Lock()
	if s.writerDone() {
		s.mu.Unlock()
		s.srv.wg.Done()
		return false
	}
	k, n := 0, 0
	for k < len(s.queue) && k < batchMessages && (k == 0 || n+len(s.queue[k].msg.pm.Payload()) <= batchBytes) {
		o := s.queue[k]
		size := len(o.msg.pm.Payload())
		batch[k] = o.msg.pm
		n += size
		if o.forced {
			s.forcedN--
			s.forcedBytes -= size
		}
		s.queue[k] = outgoing{}
		k++
	}
	s.queue = s.queue[k:]
	s.bytes -= n
	s.mu.Unlock()
	if err := s.write(batch[:k]); err != nil {
		s.mu.Lock()
		s.writing = false
		s.mu.Unlock()
		s.end(fmt.Errorf("pushwire: writing to the client: %w", err))
		s.abort() // ends the reader, and so run
		s.srv.wg.Done()
		return false
	}
	s.srv.stats.msgsOut.Add(uint64(k))
	s.srv.stats.bytesOut.Add(uint64(n))
	s.mu.Lock()
	done := s.writerDone()
	s.mu.Unlock()
	if done {
		s.srv.wg.Done()
	}
	return !done
}

// writerDone ends the writer if the queue is empty or the session ended,
// and reports whether it did. The caller holds mu.
func (s *Session) writerDone() bool {
	if len(s.queue) > 0 && !s.ended {
		return false
	}
	s.writing = false
	s.queue = nil // not the burst's array, for an idle session to keep
	return true
}

// write sends pms in one call.
func (s *Session) write(pms []*conn.PreparedMessage) error {
	if s.ws != nil {
		// Its Options.WriteTimeout bounds the write, with no context to
		// make (4 allocations a delivery).
		return s.ws.WritePrepared(context.Background(), pms...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.WriteTimeout)
	defer cancel()
	return s.mc.(*longpoll.Session).WritePrepared(ctx, pms...)
}

// Close closes the session with code and reason, after what is queued for
// it has been written (within the write timeout).
func (s *Session) Close(code conn.CloseCode, reason string) error {
	s.drain()
	err := s.mc.Close(code, reason)
	s.end(nil)
	return err
}

// abort ends the transport without a close handshake: a write failed, so
// none could be sent.
func (s *Session) abort() {
	if s.ws != nil {
		s.ws.NetConn().Close()
		return
	}
	go s.mc.Close(conn.CloseInternalError, "write failed")
}

// closeAsync closes the session from a goroutine that must not wait for it.
func (s *Session) closeAsync(code conn.CloseCode, reason string) {
	go s.mc.Close(code, reason)
}

// drain waits, bounded by the write timeout, for the queue to empty.
func (s *Session) drain() {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.WriteTimeout) // or the session's end
	defer cancel()
	for {
		s.mu.Lock()
		empty := len(s.queue) == 0 && !s.writing || s.ended
		s.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// end ends the session once: it leaves its topics and the server.
func (s *Session) end(err error) {
	s.closeOne.Do(func() {
		s.mu.Lock()
		s.ended = true
		s.endErr = err
		subs := s.subs
		s.subs = nil
		s.queue = nil
		s.mu.Unlock()
		s.cancel()
		for name, sub := range subs {
			s.srv.leave(name, sub)
		}
		s.srv.mu.Lock()
		delete(s.srv.sessions, s)
		s.srv.mu.Unlock()
	})
}
