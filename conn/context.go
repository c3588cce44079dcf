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
// socket (lazy), the watcher that the context's cancellation needs is
// registered only when a write would block (see socketWriter), so that a
// fresh context.WithTimeout per write allocates nothing here.
type ctxWatch struct {
	c       *Conn
	timeout time.Duration   // WriteTimeout, for writes
	ctx     context.Context // armed and registered, or nil
	pending context.Context // armed, registered only if the operation blocks
	stop    func() bool
	fire    func()
	fired   chan struct{}
	read    bool
	lazy    bool // register only when the operation blocks
	keep    bool // ctx may be compared, so kept across calls
	moved   bool // the socket's deadline is not the user's
	ctxDue  bool // and it is the context's own deadline
}

func (w *ctxWatch) init(c *Conn, read bool) {
	w.c, w.read = c, read
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
	if w.ctx == nil && !w.moved && ctx == context.Background() {
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
	// A deadline moved by the last operation is replaced, not restored
	// first: one change of the socket's deadline per write.
	if !w.bound(ctx) {
		w.restore()
	}
	if w.timeout > 0 {
		w.moved = true // never left for arm's fast path, which does not bound
	}
	// A context with a deadline can be cancelled: asking for its Done
	// channel would make one, which only a registration needs.
	if _, due := ctx.Deadline(); kept || !due && ctx.Done() == nil {
		return nil
	}
	if w.lazy {
		w.pending = ctx
		return nil
	}
	w.register(ctx)
	return nil
}

// bound moves a write's socket deadline to the context's or WriteTimeout's,
// whichever comes first, when that is before the user's. It reports whether
// it moved it.
func (w *ctxWatch) bound(ctx context.Context) bool {
	if w.read {
		return false
	}
	var due int64
	t, fromCtx := ctx.Deadline()
	if fromCtx {
		due = t.UnixNano()
	}
	if w.timeout > 0 {
		if d := time.Now().Add(w.timeout).UnixNano(); due == 0 || d < due {
			due, fromCtx = d, false
		}
	}
	if due == 0 {
		return false
	}
	if user := w.userDeadline(); user != 0 && user <= due {
		return false
	}
	w.setDeadline(time.Unix(0, due))
	w.moved, w.ctxDue = true, fromCtx
	return true
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

// blocking is called when the operation is about to wait: a pending
// context is watched from now on.
func (w *ctxWatch) blocking() {
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
		w.moved, w.ctxDue = false, false
	}
}

// unregister drops the registration, if any.
func (w *ctxWatch) unregister() {
	w.pending = nil
	if w.ctx != nil {
		if !w.stop() {
			<-w.fired
			w.moved = true
		}
		w.ctx, w.stop = nil, nil
	}
}

// result ends an operation: if the context ended, its error replaces the
// deadline's.
func (w *ctxWatch) result(err error) error {
	if w.ctx == nil && w.pending == nil && !w.moved {
		return err
	}
	return w.resultSlow(err)
}

func (w *ctxWatch) resultSlow(err error) error {
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
	// Nothing fired. A kept registration stays for the next call with ctx;
	// a moved deadline stays until the next operation's arm sets its own
	// or restores the user's, so that a write under a fresh deadline costs
	// one change of the socket's deadline, not two.
	if ctx != nil && (w.ctx == nil || !w.keep) {
		w.unregister()
	}
	if w.ctxDue && err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket's deadline, which was the context's, came first.
		return context.DeadlineExceeded
	}
	return err
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
