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
type ctxWatch struct {
	c     *Conn
	read  bool
	ctx   context.Context // armed, or nil
	keep  bool            // ctx may be compared, so kept across calls
	stop  func() bool
	fire  func()
	fired chan struct{}
}

func (w *ctxWatch) init(c *Conn, read bool) {
	w.c, w.read = c, read
}

// prepare makes what a registration needs, on first use: most connections
// never see a cancellable context.
func (w *ctxWatch) prepare() {
	w.fired = make(chan struct{}, 1)
	w.fire = func() {
		if w.read {
			w.c.nc.SetReadDeadline(aLongTimeAgo)
		} else {
			w.c.nc.SetWriteDeadline(aLongTimeAgo)
		}
		w.fired <- struct{}{}
	}
}

// arm prepares an operation under ctx; it fails if ctx is already done.
func (w *ctxWatch) arm(ctx context.Context) error {
	if w.ctx == nil && ctx.Done() == nil {
		return nil // the common case, kept small enough to inline
	}
	return w.armSlow(ctx)
}

func (w *ctxWatch) armSlow(ctx context.Context) error {
	if w.ctx != nil && w.keep && w.ctx == ctx {
		if err := ctx.Err(); err != nil {
			w.disarm()
			return err
		}
		return nil
	}
	w.disarm()
	if ctx.Done() == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.fire == nil {
		w.prepare()
	}
	w.ctx = ctx
	w.keep = reflect.TypeOf(ctx).Comparable()
	w.stop = context.AfterFunc(ctx, w.fire)
	return nil
}

// disarm drops the registration, restoring the user's deadline if the
// context fired.
func (w *ctxWatch) disarm() {
	if w.ctx == nil {
		return
	}
	if !w.stop() {
		<-w.fired
		if w.read {
			w.c.nc.SetReadDeadline(fromUnixNano(w.c.rdeadline.Load()))
		} else {
			w.c.nc.SetWriteDeadline(fromUnixNano(w.c.wdeadline.Load()))
		}
	}
	w.ctx, w.stop = nil, nil
}

// result ends an operation: if the context ended, its error replaces the
// deadline's.
func (w *ctxWatch) result(err error) error {
	if w.ctx == nil {
		return err
	}
	return w.resultSlow(err)
}

func (w *ctxWatch) resultSlow(err error) error {
	ctx := w.ctx
	if ctx.Err() == nil {
		if !w.keep {
			w.disarm()
		}
		return err
	}
	w.disarm()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ctx.Err()
	}
	return err
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
