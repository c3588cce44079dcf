package pushwire

import (
	"runtime"
	"sync"
)

// writerPool writes for the WebSocket sessions that can tell a blocked
// write (conn.NotifyWriteBlock): a few goroutines take the sessions with
// something queued, in the order they became ready, one batch each before
// the next. Against a goroutine per session and burst, a session waits
// longer for its turn and its turn carries more: at 10,000 subscribers
// and bursts of 10, 7-8 messages a write(2) instead of 3-4, half the CPU
// per delivery, and no goroutine starts and stack growth per session.
//
// A write that must wait for room (a client that does not read) keeps its
// goroutine, which stops counting as running: another starts in its place,
// so that a stalled client never holds the others up. Once its write ends,
// the surplus goroutine leaves. With nothing ready, none runs.
type writerPool struct {
	size int // goroutines running at most, blocked writes aside

	mu      sync.Mutex
	ready   []*Session // from head on
	head    int
	running int
}

// Session.wstate, for the pool's blocked-write accounting.
const (
	wsIdle    int32 = iota
	wsWriting       // a pool goroutine writes for the session
	wsBlocked       // that write waits for room: it no longer counts as running
)

// start starts writers for ss, whose queues just became non-empty.
func (p *writerPool) start(ss []*Session) {
	k := 0
	for _, s := range ss {
		if s.pooled {
			ss[k] = s
			k++
		} else {
			go s.writeLoop()
		}
	}
	if k > 0 {
		p.add(ss[:k])
	}
}

// add queues ss and starts goroutines up to the pool's size.
func (p *writerPool) add(ss []*Session) {
	p.mu.Lock()
	p.ready = append(p.ready, ss...)
	n := max(0, min(p.size-p.running, len(p.ready)-p.head))
	p.running += n
	p.mu.Unlock()
	for range n {
		go p.work()
	}
}

// next takes back what the calling goroutine's last turn left, then
// returns the next ready session, or nil when the goroutine must leave:
// nothing is ready, or more than size run. again is the last turn's
// session if it has more queued; unblocked says its write waited for room
// (see blocked), so that the goroutine counts as running again. One lock
// a turn.
func (p *writerPool) next(again *Session, unblocked bool) *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if unblocked {
		p.running++
	}
	if again != nil {
		p.ready = append(p.ready, again)
	}
	if p.head == len(p.ready) || p.running > p.size {
		p.running--
		return nil
	}
	s := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
	}
	return s
}

func (p *writerPool) work() {
	// Started by a publication: the publisher runs first, and what it
	// publishes next rides in the same writes.
	runtime.Gosched()
	var again *Session
	unblocked := false
	for {
		s := p.next(again, unblocked)
		if s == nil {
			return
		}
		s.wstate.Store(wsWriting)
		again = nil
		if s.writeBatch() {
			again = s
		}
		unblocked = s.wstate.Swap(wsIdle) == wsBlocked
	}
}

// blocked is a pooled session's NotifyWriteBlock hook: its write waits for
// room, so another goroutine takes the ready sessions meanwhile.
func (p *writerPool) blocked(s *Session) {
	if !s.wstate.CompareAndSwap(wsWriting, wsBlocked) {
		return // not a pool write (a pong), or already counted
	}
	p.mu.Lock()
	p.running--
	start := p.running < p.size && p.head < len(p.ready)
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}
