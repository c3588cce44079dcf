package hostile

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// blockWriter starts a writer that sends 1 MiB messages to a peer that does
// not read, and returns once it is blocked (no write has completed for a
// while), with the writer's error to come on the channel.
func blockWriter(c *conn.Conn) <-chan error {
	var written atomic.Int64
	errc := make(chan error, 1)
	go func() {
		msg := make([]byte, 1<<20)
		for {
			if err := c.WriteMessage(bg, conn.Binary, msg); err != nil {
				errc <- err
				return
			}
			written.Add(1)
		}
	}()
	for last := int64(-1); ; {
		time.Sleep(100 * time.Millisecond)
		n := written.Load()
		if n == last {
			return errc
		}
		last = n
	}
}

// Close from another goroutine while a writer is blocked on a peer that
// stopped reading returns within CloseTimeout: the writer used to hold the
// frame lock that Close waits for, forever.
func TestCloseWhileWriterBlocked(t *testing.T) {
	const closeTimeout = 300 * time.Millisecond
	for _, k := range every {
		t.Run(string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			var took time.Duration
			var closeErr, writeErr error
			sess := func(c *conn.Conn) served {
				werr := blockWriter(c)
				start := time.Now()
				closeErr = c.Close(conn.CloseNormal, "")
				took = time.Since(start)
				writeErr = <-werr
				return served{}
			}
			rg := setup(t, k, conn.Options{CloseTimeout: closeTimeout}, false, sess)
			rg.NC.(*net.TCPConn).SetReadBuffer(4 << 10)
			defer rg.stop()
			outcome(t, rg.result)
			t.Logf("Close returned after %v (CloseTimeout %v): %v; the writer got %v", took, closeTimeout, closeErr, writeErr)
			// A hang guard, not a timing: the closing note reports the figure.
			if took > closeTimeout+2*time.Second {
				t.Errorf("Close took %v", took)
			}
			if closeErr == nil || writeErr == nil {
				t.Errorf("Close: %v, writer: %v; want both to fail: the close frame could not be sent", closeErr, writeErr)
			}
		})
	}
}

// The keepalive fails a peer that neither reads nor sends while a writer is
// blocked on it: its ping used to wait for the writer's frame lock forever.
func TestKeepaliveWhileWriterBlocked(t *testing.T) {
	o := conn.Options{PingInterval: 200 * time.Millisecond, PongTimeout: 300 * time.Millisecond}
	for _, k := range every {
		t.Run(string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			var took time.Duration
			var readErr, writeErr error
			sess := func(c *conn.Conn) served {
				start := time.Now()
				werr := blockWriter(c)
				_, _, readErr = c.ReadMessage(bg, nil)
				took = time.Since(start)
				writeErr = <-werr
				return served{}
			}
			rg := setup(t, k, o, false, sess)
			rg.NC.(*net.TCPConn).SetReadBuffer(4 << 10)
			defer rg.stop()
			outcome(t, rg.result)
			t.Logf("failed after %v (PingInterval %v + PongTimeout %v): %v; the writer got %v", took, o.PingInterval, o.PongTimeout, readErr, writeErr)
			closeError(t, readErr, conn.CloseAbnormal, true, conn.ErrPongTimeout)
			if writeErr == nil {
				t.Error("the blocked writer did not fail")
			}
			if took > o.PingInterval+o.PongTimeout+2*time.Second {
				t.Errorf("the keepalive took %v", took)
			}
		})
	}
}
