package longpoll

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
)

var (
	// ErrQueueFull is returned by WriteMessage when the queue is full and
	// the endpoint was set to fail rather than wait.
	ErrQueueFull = errors.New("longpoll: queue full")
	// ErrExpired is the cause (Err) of the CloseError a session reports when
	// its client has not polled within the grace period, and a client when
	// the server no longer knows its session or cannot be reached for as
	// long.
	ErrExpired = errors.New("longpoll: session expired")
	// ErrMoved is the cause of the CloseError a Session reports when its
	// client moved to a session another node adopted (see Options.Adopt).
	ErrMoved = errors.New("longpoll: client moved to another session")
	// ErrTooBig is returned by WriteMessage for a message larger than the
	// queue's byte bound or, from a Client, than the server takes in one
	// request.
	ErrTooBig = errors.New("longpoll: message too big")

	errMessageType = fmt.Errorf("longpoll: %w", conn.ErrMessageType)
	errUTF8        = errors.New("longpoll: text message is not valid UTF-8")
	errCloseCode   = fmt.Errorf("longpoll: %w", conn.ErrCloseCode)
	errCloseReason = fmt.Errorf("longpoll: %w", conn.ErrCloseReason)
	errAck         = errors.New("longpoll: acknowledgement of a message never sent")
)

// Queue bounds, per direction, of an endpoint.
const (
	DefaultMaxQueue      = 1024
	DefaultMaxQueueBytes = 4 << 20
)

// endpoint is one side's half of a session: the numbered messages it sends
// until the peer acknowledges them, and those it received in order until
// the application reads them. Both sides of the transport use it.
type endpoint struct {
	mu       sync.Mutex
	maxMsgs  int
	maxBytes int
	failFast bool

	out      []record // sent, not yet acknowledged, by sequence
	outSeq   uint64   // the last sequence number given
	outBytes int
	closeSeq uint64 // our close record's sequence, once queued

	in      []record // received in order, not yet read
	inSeq   uint64   // the last sequence received in order
	inBytes int
	// With keepLast, lastRead is the record read returned last, until it
	// is called again: the application may not have finished with it.
	keepLast bool
	lastRead record

	changed chan struct{} // closed and renewed on every change
	ended   chan struct{}
	final   *conn.CloseError
	local   bool // Close was called here
}

func (e *endpoint) init(maxMsgs, maxBytes int, failFast bool) {
	e.maxMsgs, e.maxBytes, e.failFast = maxMsgs, maxBytes, failFast
	if e.maxMsgs <= 0 {
		e.maxMsgs = DefaultMaxQueue
	}
	if e.maxBytes <= 0 {
		e.maxBytes = DefaultMaxQueueBytes
	}
	e.changed = make(chan struct{})
	e.ended = make(chan struct{})
}

// notify wakes everyone waiting for a change. The caller holds mu.
func (e *endpoint) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// wait returns a channel closed at the next change. The caller holds mu.
func (e *endpoint) wait() <-chan struct{} { return e.changed }

func (e *endpoint) full(n int) bool {
	return len(e.out) >= e.maxMsgs || (len(e.out) > 0 && e.outBytes+n > e.maxBytes)
}

// write queues a message of at most maxSize bytes, waiting for room unless
// failFast.
func (e *endpoint) write(ctx context.Context, typ conn.MessageType, p []byte, maxSize int) error {
	if err := e.check(typ, p, maxSize); err != nil {
		return err
	}
	rec := [1]record{{kind: byte(typ), data: append([]byte(nil), p...)}}
	return e.queue(ctx, rec[:])
}

// check refuses a message that write would not queue.
func (e *endpoint) check(typ conn.MessageType, p []byte, maxSize int) error {
	switch {
	case typ != conn.Text && typ != conn.Binary:
		return errMessageType
	case typ == conn.Text && !utf8.Valid(p):
		return errUTF8
	case len(p) > maxSize || len(p) > e.maxBytes:
		return ErrTooBig
	}
	return nil
}

// queue numbers recs and queues them in order, each once there is room
// for it, unless failFast. Those queued together wake the waiters once.
func (e *endpoint) queue(ctx context.Context, recs []record) error {
	e.mu.Lock()
	queued := false
	defer func() {
		if queued {
			e.notify()
		}
		e.mu.Unlock()
	}()
	for len(recs) > 0 {
		switch {
		case e.final != nil:
			return e.final
		case e.local:
			return conn.ErrClosed
		case !e.full(len(recs[0].data)):
			e.outSeq++
			r := recs[0]
			r.seq = e.outSeq
			e.out = append(e.out, r)
			e.outBytes += len(r.data)
			recs, queued = recs[1:], true
			continue
		case e.failFast:
			return ErrQueueFull
		}
		if queued {
			e.notify() // a poll takes them, which makes room
			queued = false
		}
		ch := e.wait()
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			e.mu.Lock()
			return ctx.Err()
		}
		e.mu.Lock()
	}
	return nil
}

// queueClose queues our close record, past the bounds.
func (e *endpoint) queueClose(code conn.CloseCode, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.local || e.final != nil {
		return
	}
	e.local = true
	e.outSeq++
	e.closeSeq = e.outSeq
	e.out = append(e.out, closeRecord(e.outSeq, code, reason))
	e.notify()
}

// ack drops the messages the peer has received. It reports whether our
// close record was among them; acknowledging a message never sent is an
// error.
func (e *endpoint) ack(seq uint64) (closeAcked bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if seq > e.outSeq {
		return false, errAck
	}
	i := 0
	for i < len(e.out) && e.out[i].seq <= seq {
		i++
	}
	e.drop(i)
	return e.closeSeq != 0 && seq >= e.closeSeq, nil
}

// drop drops the first n unacknowledged records. The caller holds mu.
func (e *endpoint) drop(n int) {
	if n == 0 {
		return
	}
	for _, r := range e.out[:n] {
		e.outBytes -= len(r.data)
	}
	e.out = append(e.out[:0], e.out[n:]...)
	e.notify()
}

// dropFirst drops the first n unacknowledged records: a session since left
// took them.
func (e *endpoint) dropFirst(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drop(min(n, len(e.out)))
}

// pendingAfter returns the unacknowledged records after sequence seq, up
// to about max bytes (at least one).
func (e *endpoint) pendingAfter(seq uint64, max int) []record {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := 0
	for i < len(e.out) && e.out[i].seq <= seq {
		i++
	}
	n, size := i, 0
	for n < len(e.out) && (n == i || size+len(e.out[n].data) <= max) {
		size += len(e.out[n].data)
		n++
	}
	return append([]record(nil), e.out[i:n]...)
}

// receive takes a record from the peer. It returns false when the record
// cannot be taken now (a gap, or no room): the peer sends it again later.
// A duplicate is dropped and counts as taken.
func (e *endpoint) receive(r record) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case r.seq <= e.inSeq:
		return true
	case r.seq != e.inSeq+1 || e.final != nil:
		return false
	case r.kind == kindClose:
		e.inSeq = r.seq
		e.final, _ = parseClose(r.data) // the batch was checked
		e.notify()
		return true
	case len(e.in) >= e.maxMsgs || (len(e.in) > 0 && e.inBytes+len(r.data) > e.maxBytes):
		return false
	}
	e.inSeq = r.seq
	e.in = append(e.in, record{kind: r.kind, seq: r.seq, data: append([]byte(nil), r.data...)})
	e.inBytes += len(r.data)
	e.notify()
	return true
}

// inFull reports whether the incoming queue is at a bound. The caller
// holds mu.
func (e *endpoint) inFull() bool {
	return len(e.in) >= e.maxMsgs || e.inBytes >= e.maxBytes
}

func (e *endpoint) received() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inSeq
}

// read returns the next message, appended to buf[:0].
func (e *endpoint) read(ctx context.Context, buf []byte) (conn.MessageType, []byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastRead = record{}
	for {
		if len(e.in) > 0 {
			r := e.in[0]
			e.in[0] = record{}
			e.in = e.in[1:]
			e.inBytes -= len(r.data)
			if e.keepLast {
				e.lastRead = r
			}
			e.notify()
			return conn.MessageType(r.kind), append(buf[:0], r.data...), nil
		}
		if e.final != nil {
			return 0, buf[:0], e.final
		}
		if e.local {
			return 0, buf[:0], conn.ErrClosed
		}
		ch := e.wait()
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			e.mu.Lock()
			return 0, buf[:0], ctx.Err()
		}
		e.mu.Lock()
	}
}

// end records how the session ended, once.
func (e *endpoint) end(ce *conn.CloseError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.ended:
		return
	default:
	}
	if e.final == nil {
		e.final = ce
	}
	close(e.ended)
	e.notify()
}

// waitAck waits until our close record is acknowledged, the session ends,
// or ctx is done.
func (e *endpoint) waitAck(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if len(e.out) == 0 || e.out[0].seq > e.closeSeq {
			return
		}
		ch := e.wait()
		e.mu.Unlock()
		select {
		case <-ch:
		case <-e.ended:
		case <-ctx.Done():
		}
		e.mu.Lock()
		select {
		case <-e.ended:
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// closeWait bounds how long Close waits for the peer to take our close: a
// poll cycle (the hold, or a plain-polling client's interval), and at
// least a second for the requests' round trips.
func closeWait(hold, interval time.Duration) time.Duration {
	return max(hold+interval, time.Second)
}
