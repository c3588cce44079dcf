package conn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// A write with a fresh context.WithTimeout per call allocates nothing of
// its own: the allocations are the context package's, counted apart.
func TestWriteTimeoutContextAllocs(t *testing.T) {
	srv, cli := connPair(t, transports[1], nil, nil)
	go func() {
		var buf []byte
		for {
			_, msg, err := cli.ReadMessage(bg, buf)
			if err != nil {
				return
			}
			buf = msg
		}
	}()
	msg := payload(1024, false)
	ctxOnly := testing.AllocsPerRun(200, func() {
		_, cancel := context.WithTimeout(bg, time.Minute)
		cancel()
	})
	write := testing.AllocsPerRun(200, func() {
		ctx, cancel := context.WithTimeout(bg, time.Minute)
		if err := srv.WriteMessage(ctx, conn.Binary, msg); err != nil {
			t.Fatal(err)
		}
		cancel()
	})
	t.Logf("context.WithTimeout alone: %v allocations; with a write: %v", ctxOnly, write)
	// A write that finds the socket full registers a watcher: allow for
	// the rare one, not for one each time.
	if write > ctxOnly+0.1 {
		t.Errorf("a write under a fresh timeout context allocates %v times, the context alone %v", write, ctxOnly)
	}
}

// Each way of bounding a write ends a write to a peer that does not read,
// with the error that says which bound it was; the connection fails, since
// part of the frame went out.
func TestBoundedWriteToStalledPeer(t *testing.T) {
	const bound = 200 * time.Millisecond
	rows := []struct {
		name  string
		opts  conn.Options
		ctx   func() (context.Context, func())
		after func(cancel func()) // runs while the write is blocked
		want  error
	}{
		{
			name: "WriteTimeout", opts: conn.Options{WriteTimeout: bound},
			ctx:  func() (context.Context, func()) { return bg, func() {} },
			want: os.ErrDeadlineExceeded,
		},
		{
			name: "context deadline",
			ctx:  func() (context.Context, func()) { return context.WithTimeout(bg, bound) },
			want: context.DeadlineExceeded,
		},
		{
			name:  "context cancelled while blocked",
			ctx:   func() (context.Context, func()) { return context.WithCancel(bg) },
			after: func(cancel func()) { time.Sleep(bound); cancel() },
			want:  context.Canceled,
		},
		{
			name:  "deadline far off, cancelled while blocked",
			ctx:   func() (context.Context, func()) { return context.WithTimeout(bg, time.Hour) },
			after: func(cancel func()) { time.Sleep(bound); cancel() },
			want:  context.Canceled,
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			a, b := tcpPair(t)
			a.(*net.TCPConn).SetWriteBuffer(16 << 10)
			b.(*net.TCPConn).SetReadBuffer(16 << 10)
			c := conn.New(a, conn.Server, nil, &r.opts)
			ctx, cancel := r.ctx()
			defer cancel()
			if r.after != nil {
				go r.after(cancel)
			}
			msg := make([]byte, 1<<20)
			start := time.Now()
			err := c.WriteMessage(ctx, conn.Binary, msg)
			took := time.Since(start)
			t.Logf("%v after %v", err, took)
			if !errors.Is(err, r.want) {
				t.Fatalf("write: %v, want %v", err, r.want)
			}
			if took > 5*time.Second { // a hang guard, not a timing
				t.Errorf("the write took %v", took)
			}
			if err := c.WriteMessage(bg, conn.Binary, []byte("x")); err == nil {
				t.Error("a write after a frame cut in half succeeded")
			}
			c.Close(conn.CloseNormal, "")
		})
	}
}

// A context's deadline applied to one write does not outlive it: the next
// write, without a context, is not cut short by it.
func TestContextDeadlineDoesNotOutliveWrite(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	if err := srv.WriteMessage(ctx, conn.Text, []byte("first")); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // past the first write's deadline
	// Large enough to wait for the reader, who starts after a pause.
	big := make([]byte, 8<<20)
	done := make(chan error, 1)
	go func() { done <- srv.WriteMessage(bg, conn.Binary, big) }()
	time.Sleep(100 * time.Millisecond)
	for _, want := range []string{"first", ""} {
		_, msg, err := cli.ReadMessage(bg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want != "" && string(msg) != want {
			t.Fatalf("read %q, want %q", msg, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the write after the context's: %v", err)
	}
	closed := make(chan struct{})
	go func() { srv.Close(conn.CloseNormal, ""); close(closed) }()
	cli.ReadMessage(bg, nil) // answers the close
	<-closed
}

// NextReader's context bounds the wait for a message and keeps the
// connection usable, as ReadMessage's does; the reader reads under it.
func TestNextReaderContext(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if _, _, err := srv.NextReader(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextReader with nothing to read: %v, want the context's deadline", err)
	}
	if err := cli.WriteMessage(bg, conn.Text, []byte("after")); err != nil {
		t.Fatal(err)
	}
	typ, r, err := srv.NextReader(bg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || typ != conn.Text || string(b) != "after" {
		t.Fatalf("read %v %q %v, want text \"after\"", typ, b, err)
	}
	closed := make(chan struct{})
	go func() { cli.Close(conn.CloseNormal, ""); close(closed) }()
	srv.ReadMessage(bg, nil)
	<-closed
}

// Close from another goroutine while a reader runs, which then returns on
// its cancelled context: Close takes over reading the peer's close instead
// of waiting out CloseTimeout.
func TestCloseAfterReaderCancelled(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, &conn.Options{CloseTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(bg)
	read := make(chan error, 1)
	go func() { _, _, err := cli.ReadMessage(ctx, nil); read <- err }()
	time.Sleep(50 * time.Millisecond) // the reader is waiting
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- cli.Close(conn.CloseNormal, "") }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-read; !errors.Is(err, context.Canceled) {
		t.Fatalf("reader: %v", err)
	}
	go func() { // only now does the peer read, and answer, the close
		for {
			if _, _, err := srv.ReadMessage(bg, nil); err != nil {
				return
			}
		}
	}()
	err := <-closed
	took := time.Since(start)
	t.Logf("Close returned %v after %v", err, took)
	if err != nil {
		t.Errorf("Close: %v, want the completed handshake", err)
	}
	if took > 2*time.Second { // a hang guard: CloseTimeout is 5 s
		t.Errorf("Close waited %v", took)
	}
}

// deadlineConn counts the changes of its write deadline and keeps the last.
type deadlineConn struct {
	net.Conn
	sets int
	last time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.sets++
	d.last = t
	return d.Conn.SetWriteDeadline(t)
}

// A bounded write changes the socket's write deadline once, not twice (the
// last write's bound is replaced, not restored first), and a deadline the
// user set that comes first stays the socket's.
func TestWriteDeadlineChanges(t *testing.T) {
	const writes = 10
	user := time.Now().Add(time.Minute)
	rows := []struct {
		name     string
		timeout  time.Duration
		user     bool
		ctx      func() (context.Context, func())
		wantSets int
		wantLast func(time.Time) bool
	}{
		{
			name: "WriteTimeout", timeout: time.Hour,
			ctx:      func() (context.Context, func()) { return bg, func() {} },
			wantSets: writes,
			wantLast: func(d time.Time) bool { return d.After(time.Now().Add(59 * time.Minute)) },
		},
		{
			name:     "fresh context.WithTimeout",
			ctx:      func() (context.Context, func()) { return context.WithTimeout(bg, time.Hour) },
			wantSets: writes,
			wantLast: func(d time.Time) bool { return d.After(time.Now().Add(59 * time.Minute)) },
		},
		{
			name: "WriteTimeout after the user's deadline", timeout: time.Hour, user: true,
			ctx:      func() (context.Context, func()) { return bg, func() {} },
			wantLast: func(d time.Time) bool { return d.Equal(user) },
		},
		{
			name: "context deadline after the user's", user: true,
			ctx:      func() (context.Context, func()) { return context.WithTimeout(bg, time.Hour) },
			wantLast: func(d time.Time) bool { return d.Equal(user) },
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a, b := tcpPair(t)
			go io.Copy(io.Discard, b)
			d := &deadlineConn{Conn: a}
			c := conn.New(d, conn.Server, nil, &conn.Options{WriteTimeout: r.timeout})
			defer a.Close()
			if r.user {
				c.SetWriteDeadline(user)
			}
			d.sets = 0
			for range writes {
				// Cancelled at the end: a registered watcher fires on
				// cancel, which is not the write's change.
				ctx, cancel := r.ctx()
				defer cancel()
				if err := c.WriteMessage(ctx, conn.Binary, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if r.wantSets > 0 && d.sets != r.wantSets {
				t.Errorf("%d writes changed the deadline %d times, want %d", writes, d.sets, r.wantSets)
			}
			if !r.wantLast(d.last) {
				t.Errorf("the socket's deadline is %v (the user's %v)", d.last, user)
			}
		})
	}
}

// Over a raw socket a write's bound goes on the socket only if the write
// blocks, and comes off when it ends: a write the socket takes at once
// leaves the poller's timer alone.
func TestWriteDeadlineOnlyWhenBlocked(t *testing.T) {
	rows := []struct {
		name string
		opts conn.Options
		ctx  func() (context.Context, func())
	}{
		{"WriteTimeout", conn.Options{WriteTimeout: time.Hour}, func() (context.Context, func()) { return bg, func() {} }},
		{"context.WithTimeout", conn.Options{}, func() (context.Context, func()) { return context.WithTimeout(bg, time.Hour) }},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a, b := tcpPair(t)
			a.(*net.TCPConn).SetWriteBuffer(16 << 10)
			b.(*net.TCPConn).SetReadBuffer(16 << 10)
			c := conn.New(a, conn.Server, nil, &r.opts)
			write := func(size int) {
				t.Helper()
				ctx, cancel := r.ctx()
				defer cancel()
				if err := c.WriteMessage(ctx, conn.Binary, make([]byte, size)); err != nil {
					t.Fatal(err)
				}
			}
			write(100)
			if conn.WriteDeadlineMoved(c) {
				t.Fatal("a write the socket took at once moved its deadline")
			}
			// 4 MiB cannot go out before the peer reads: the write blocks.
			go func() {
				time.Sleep(50 * time.Millisecond)
				io.Copy(io.Discard, b)
			}()
			write(4 << 20)
			if conn.WriteDeadlineMoved(c) {
				t.Fatal("a write that blocked left its deadline on the socket")
			}
			write(100)
			if conn.WriteDeadlineMoved(c) {
				t.Fatal("the write after a blocked one moved the socket's deadline")
			}
		})
	}
}

// NotifyWriteBlock's f is called by a write that waits for room, while it
// waits, and by no other; a connection that cannot tell says so.
func TestNotifyWriteBlock(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, b := tr.pair(t)
			if tcp, ok := a.(*net.TCPConn); ok {
				tcp.SetWriteBuffer(16 << 10)
				b.(*net.TCPConn).SetReadBuffer(16 << 10)
			}
			c := conn.New(a, conn.Server, nil, nil)
			var calls, whileWriting atomic.Int32
			var writing atomic.Bool
			ok := c.NotifyWriteBlock(func() {
				calls.Add(1)
				if writing.Load() {
					whileWriting.Add(1)
				}
			})
			if tr.name == "pipe" {
				if ok {
					t.Fatal("a net.Pipe reports that it can tell a blocked write")
				}
				return
			}
			if !ok {
				t.Fatal("a TCP connection reports that it cannot tell a blocked write")
			}
			write := func(size int) {
				t.Helper()
				writing.Store(true)
				defer writing.Store(false)
				if err := c.WriteMessage(bg, conn.Binary, make([]byte, size)); err != nil {
					t.Fatal(err)
				}
			}
			write(100)
			if n := calls.Load(); n != 0 {
				t.Fatalf("a write the socket took at once called f %d times", n)
			}
			// 4 MiB cannot go out before the peer reads: the write blocks.
			go func() {
				time.Sleep(50 * time.Millisecond)
				io.Copy(io.Discard, b)
			}()
			write(4 << 20)
			if calls.Load() == 0 || whileWriting.Load() != calls.Load() {
				t.Fatalf("a blocked write: f called %d times, %d of them during the write", calls.Load(), whileWriting.Load())
			}
			c.NotifyWriteBlock(nil)
			n := calls.Load()
			write(4 << 20)
			if calls.Load() != n {
				t.Fatal("f called after NotifyWriteBlock(nil)")
			}
		})
	}
}
