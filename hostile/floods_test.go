package hostile

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// batch encodes n copies of one frame, to flood with few writes.
func batch(p *peer, n int, fin bool, op frame.Opcode, payload []byte) []byte {
	return bytes.Repeat(p.Frame(fin, 0, op, payload), n)
}

func TestFloods(t *testing.T) {
	rows := []frameRow{
		{
			// 100,000 bytes are read, one per frame, before the limit is
			// passed: linear work, and a buffer of the limit's size.
			name: "a million 1-byte fragments over the read limit",
			opts: conn.Options{ReadLimit: 100_000},
			send: func(p *peer) {
				p.Send(false, frame.OpBinary, []byte{1})
				b := batch(p, 10_000, false, frame.OpContinuation, []byte{1})
				sent := 1
				p.Flood(func() []byte {
					if sent += 10_000; sent > 1_000_000 {
						return nil
					}
					return b
				})
			},
			code: 1009, rule: frame.ErrTooBig, maxAlloc: 2 << 20,
		},
		{
			name: "endless empty continuation frames",
			opts: conn.Options{MaxFragments: 20_000},
			send: func(p *peer) {
				p.Send(false, frame.OpText, nil)
				b := batch(p, 10_000, false, frame.OpContinuation, nil)
				p.Flood(func() []byte { return b })
			},
			code: 1008, maxAlloc: 1 << 20,
		},
	}
	runFrameRows(t, rows)
}

// A peer that floods pings and never reads the pongs: our side stops
// reading once its pongs back up, so TCP pushes back on the peer, and it
// buffers nothing meanwhile.
func TestPingFlood(t *testing.T) {
	for _, k := range every {
		t.Run(string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			rg := setup(t, k, conn.Options{}, false, echo)
			defer rg.stop()
			b := batch(rg.peer, 1000, true, frame.OpPing, bytes.Repeat([]byte{'p'}, 125))
			sent := 0
			n := allocated(func() {
				for {
					rg.NC.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
					m, err := rg.NC.Write(b)
					sent += m
					if errors.Is(err, os.ErrDeadlineExceeded) {
						return // pushed back
					}
					if err != nil {
						t.Fatalf("after %d bytes: %v", sent, err)
					}
					if sent > 1<<30 {
						t.Fatal("1 GiB of pings and still no push-back")
					}
				}
			})
			t.Logf("pushed back after %d MiB of pings; %d bytes allocated", sent>>20, n)
			if n > 1<<20 {
				t.Errorf("allocated %d bytes during the flood", n)
			}
			rg.NC.Close()
			closeError(t, outcome(t, rg.result).err, conn.CloseAbnormal, true, nil)
		})
	}
}

// closeAtOnce closes the connection as soon as it opens, with a reader
// running or not, and reports Close's error and how long it took.
func closeAtOnce(withReader bool, took *time.Duration) session {
	return func(c *conn.Conn) served {
		if withReader {
			go c.ReadMessage(bg, nil)
		}
		start := time.Now()
		err := c.Close(conn.CloseNormal, "")
		*took = time.Since(start)
		return served{err: err}
	}
}

// A peer that never answers our close: Close returns after CloseTimeout,
// and the connection is released.
func TestCloseUnanswered(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, withReader := range []bool{false, true} {
		for _, k := range every {
			name := string(k)
			if withReader {
				name += "/reader running"
			}
			t.Run(name, func(t *testing.T) {
				defer leaktest.Check(t)()
				var took time.Duration
				rg := setup(t, k, conn.Options{CloseTimeout: timeout}, false, closeAtOnce(withReader, &took))
				defer rg.stop()
				rg.ExpectClose(conn.CloseNormal)
				rg.ExpectEOF()
				closeError(t, outcome(t, rg.result).err, conn.CloseAbnormal, true, nil)
				if took < timeout || took > 4*time.Second { // DefaultCloseTimeout is 5 s
					t.Errorf("Close took %v, want %v", took, timeout)
				}
			})
		}
	}
}

// A peer that stops reading while we write: the write deadline ends the
// write, later writes fail at once, and the message is never copied.
func TestPeerStopsReading(t *testing.T) {
	for _, k := range every {
		t.Run(string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			const deadline = 300 * time.Millisecond
			msg := make([]byte, 1<<20)
			var took, again time.Duration
			var sent int
			var second error
			write := func(c *conn.Conn) served {
				start := time.Now()
				c.SetWriteDeadline(start.Add(deadline))
				var err error
				for err == nil {
					if err = c.WriteMessage(bg, conn.Binary, msg); err == nil {
						sent++
					}
				}
				took = time.Since(start)
				start = time.Now()
				second = c.WriteMessage(bg, conn.Binary, msg)
				again = time.Since(start)
				c.Close(conn.CloseNormal, "")
				return served{err: err}
			}
			var rg *rig
			n := allocated(func() {
				rg = setup(t, k, conn.Options{CloseTimeout: 100 * time.Millisecond}, false, write)
				rg.NC.(*net.TCPConn).SetReadBuffer(4 << 10)
				defer rg.stop()
				err := outcome(t, rg.result).err
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write: %v, want a deadline error", err)
				}
			})
			t.Logf("%d MiB written, stopped after %v; %d bytes allocated", sent, took, n)
			if took < deadline || took > 4*time.Second {
				t.Errorf("the write ended after %v, want %v", took, deadline)
			}
			if second == nil || again > time.Second {
				t.Errorf("the next write: %v after %v, want an error at once", second, again)
			}
			if n > 2<<20 {
				t.Errorf("allocated %d bytes", n)
			}
		})
	}
}

// A half-open peer, silent and not reading, is detected by the keepalive
// and the reader gets CloseAbnormal; a peer that answers the pings stays.
func TestKeepalive(t *testing.T) {
	// The keepalive's verdict is the idle time, not the age of an unanswered
	// ping: a timer firing late (seen under -race on a loaded machine) fails
	// a peer without pinging it, or one that answers every ping, when the
	// lateness passes PongTimeout (silent peer) or PingInterval (answering
	// peer). Long enough values keep that bug out of these rows.
	silent := conn.Options{PingInterval: 100 * time.Millisecond, PongTimeout: 500 * time.Millisecond}
	answering := conn.Options{PingInterval: 500 * time.Millisecond, PongTimeout: 500 * time.Millisecond}
	for _, k := range every {
		t.Run("half-open/"+string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			start := time.Now()
			rg := setup(t, k, silent, false, echo)
			defer rg.stop()
			s := outcome(t, rg.result)
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("detected after %v", d)
			}
			closeError(t, s.err, conn.CloseAbnormal, true, nil)
			h, _, err := rg.ReadFrame()
			if err != nil || h.Op != frame.OpPing {
				t.Fatalf("the peer got %v %v, want a ping", h.Op, err)
			}
		})
		t.Run("answering/"+string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			rg := setup(t, k, answering, false, echo)
			defer rg.stop()
			for range 3 {
				h, p, err := rg.ReadFrame()
				if err != nil || h.Op != frame.OpPing {
					t.Fatalf("got %v %v, want pings; our side: %v", h.Op, err, outcome(t, rg.result).err)
				}
				rg.Send(true, frame.OpPong, p)
			}
			rg.Send(true, frame.OpClose, closePayload(1000, ""))
			rg.ExpectClose(1000)
			if k == viaDial {
				rg.NC.Close() // the server closes TCP first
			}
			closeError(t, outcome(t, rg.result).err, 1000, false, nil)
		})
	}
}
