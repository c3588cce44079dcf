package conn

import (
	"context"
	"errors"
	"os"
	"reflect"
	"time"
)

// Contexts and deadlines: a cancellable context moves the socket's
// deadline while an operation runs.

var aLongTimeAgo = time.Unix(1, 0)

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ctxWatch makes a context's cancellation cut a blocked read or write short,
// by moving the connection's deadline into the past. The registration is
// kept while the same context comes back, so that a loop passing one
// context to every call allocates nothing.
//
// For writes, a deadline (the context's, or WriteTimeout's) needs no
// watcher: it moves the socket's deadline for the operation. Over a raw
// socket (lazy), both wait until a write would block (see socketWriter):
// the watcher that the context's cancellation needs is registered, and the
// deadline moved, only then. A write the socket takes at once, the common
// case, costs neither an allocation nor a change of the poller's timer.
type ctxWatch struct {
	c       *Conn
	ctx     context.Context // armed and registered, or nil
	pending context.Context // armed, registered only if the operation blocks
	stop    func() bool
	fire    func()
	fired   chan struct{}
	due     int64 // armed, the socket's deadline only if the operation blocks
	read    bool
	lazy    bool // register and move the deadline only when the operation blocks
	keep    bool // ctx may be compared, so kept across calls
	slow    bool // arm and result must look: moved, or a WriteTimeout to apply
	moved   bool // the socket's deadline is not the user's
	ctxDue  bool // the bound (due or moved) is the context's own deadline
}

func (w *ctxWatch) init(c *Conn, read bool) {
	w.c, w.read = c, read
	w.slow = w.timeout() > 0
}

// timeout is WriteTimeout, for writes.
func (w *ctxWatch) timeout() time.Duration {
	if w.read {
		return 0
	}
	return w.c.opts.WriteTimeout
}

// prepare makes what a registration needs, on first use: most connections
// never see a cancellable context.
func (w *ctxWatch) prepare() {
	w.fired = make(chan struct{}, 1)
	w.fire = func() {
		w.setDeadline(aLongTimeAgo)
		w.fired <- struct{}{}
	}
}

func (w *ctxWatch) setDeadline(t time.Time) {
	if w.read {
		w.c.nc.SetReadDeadline(t)
	} else {
		w.c.nc.SetWriteDeadline(t)
	}
}

// userDeadline is the deadline the user set, in unix nanoseconds, 0 for
// none.
func (w *ctxWatch) userDeadline() int64 {
	if w.read {
		return w.c.rdeadline.Load()
	}
	return w.c.wdeadline.Load()
}

// arm prepares an operation under ctx; it fails if ctx is already done.
func (w *ctxWatch) arm(ctx context.Context) error {
	if w.ctx == nil && !w.slow && ctx == context.Background() {
		return nil // the common case, kept small enough to inline
	}
	return w.armSlow(ctx)
}

func (w *ctxWatch) armSlow(ctx context.Context) error {
	kept := w.ctx != nil && w.keep && w.ctx == ctx
	if !kept {
		w.unregister()
	}
	if err := ctx.Err(); err != nil {
		w.disarm()
		return err
	}
	w.bound(ctx)
	// A context with a deadline can be cancelled: asking for its Done
	// channel would make one, which only a registration needs.
	if _, due := ctx.Deadline(); kept || !due && ctx.Done() == nil {
		return nil
	}
	w.slow = true
	if w.lazy {
		w.pending = ctx
		return nil
	}
	w.register(ctx)
	return nil
}

// bound gives a write the context's deadline or WriteTimeout's, whichever
// comes first, when that is before the user's: at once, or when the write
// blocks (lazy). A deadline the last operation moved is replaced, not
// restored first: one change of the socket's deadline at most.
func (w *ctxWatch) bound(ctx context.Context) {
	var due int64
	t, fromCtx := ctx.Deadline()
	if w.read {
		fromCtx = false // a read's context is watched, not its deadline
	} else if fromCtx {
		due = t.UnixNano()
	}
	if timeout := w.timeout(); timeout > 0 {
		if d := time.Now().Add(timeout).UnixNano(); due == 0 || d < due {
			due, fromCtx = d, false
		}
	}
	if due == 0 {
		w.restore()
		return
	}
	if user := w.userDeadline(); user != 0 && user <= due {
		w.restore()
		return
	}
	w.slow, w.ctxDue = true, fromCtx
	if w.lazy && !w.moved {
		w.due = due
		return
	}
	w.setDeadline(time.Unix(0, due))
	w.moved = true
}

// register watches ctx: its cancellation moves the deadline into the past.
func (w *ctxWatch) register(ctx context.Context) {
	if w.fire == nil {
		w.prepare()
	}
	w.ctx = ctx
	w.keep = reflect.TypeOf(ctx).Comparable()
	w.stop = context.AfterFunc(ctx, w.fire)
}

// blocking is called when the operation is about to wait: its deadline
// goes on the socket, and a pending context is watched from now on.
func (w *ctxWatch) blocking() {
	if w.due != 0 {
		w.setDeadline(time.Unix(0, w.due))
		w.due, w.moved = 0, true
	}
	if ctx := w.pending; ctx != nil {
		w.pending = nil
		w.register(ctx)
	}
}

// disarm drops the registration, and restores the user's deadline if the
// context fired or a deadline moved it.
func (w *ctxWatch) disarm() {
	w.unregister()
	w.restore()
}

// restore gives the socket the user's deadline back, if it was moved.
func (w *ctxWatch) restore() {
	if w.moved {
		w.setDeadline(fromUnixNano(w.userDeadline()))
	}
	w.due, w.moved, w.ctxDue = 0, false, false
	w.slow = w.timeout() > 0 || w.ctx != nil
}

// unregister drops the registration, if any.
func (w *ctxWatch) unregister() {
	w.pending = nil
	if w.ctx != nil {
		if !w.stop() {
			<-w.fired
			w.moved, w.slow = true, true
		}
		w.ctx, w.stop = nil, nil
	}
}

// result ends an operation: if the context ended, its error replaces the
// deadline's.
func (w *ctxWatch) result(err error) error {
	if w.ctx == nil && !w.slow {
		return err
	}
	return w.resultSlow(err)
}

func (w *ctxWatch) resultSlow(err error) error {
	w.due = 0 // not reached: the operation did not block
	ctx := w.ctx
	if ctx == nil {
		ctx = w.pending
	}
	if ctx != nil && ctx.Err() != nil {
		w.disarm()
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return ctx.Err()
		}
		return err
	}
	// Nothing fired. A kept registration stays for the next call with ctx.
	// Unless lazy, a moved deadline stays until the next operation's arm
	// sets its own or restores the user's: one change of the socket's
	// deadline per write, not two.
	if ctx != nil && (w.ctx == nil || !w.keep) {
		w.unregister()
	}
	if w.ctxDue && w.moved && err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket's deadline, which was the context's, came first.
		err = context.DeadlineExceeded
	}
	if w.lazy && w.moved {
		// It blocked: the user's deadline goes back now, so that the next
		// write the socket takes at once moves nothing.
		w.restore()
	}
	return err
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
