package conn_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/rawpeer"
)

var coalesce = &conn.Options{CoalesceWrites: true}

// countingConn counts Read and Write calls on a TCP connection. Being a
// wrapper, it also makes the Conn read through Read rather than the raw
// socket.
type countingConn struct {
	*net.TCPConn
	reads, writes atomic.Int32
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.TCPConn.Read(p)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.TCPConn.Write(p)
}

// The three ways a Conn reads: net.Pipe, the raw TCP socket, and a wrapper's
// Read.
var coalesceTransports = append(transports[:2:2], transport{"tcp-wrapped", func(t testing.TB) (net.Conn, net.Conn) {
	a, b := tcpPair(t)
	return &countingConn{TCPConn: a.(*net.TCPConn)}, b
}})

// An echo server that coalesces answers every message, including the last,
// which goes out only when the server's reader waits for more.
func TestCoalesceEcho(t *testing.T) {
	for _, tr := range coalesceTransports {
		t.Run(tr.name, func(t *testing.T) {
			srv, cli := connPair(t, tr, coalesce, nil)
			go func() {
				var buf []byte
				for {
					typ, msg, err := srv.ReadMessage(bg, buf)
					if err != nil || srv.WriteMessage(bg, typ, msg) != nil {
						return
					}
					buf = msg
				}
			}()
			const n = 100
			go func() {
				for i := range n {
					if cli.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "m%d", i)) != nil {
						return
					}
				}
			}()
			cli.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i := range n {
				_, got, err := cli.ReadMessage(bg, nil)
				if want := fmt.Sprintf("m%d", i); err != nil || string(got) != want {
					t.Fatalf("reply %d: %q, %v; want %q", i, got, err, want)
				}
			}
		})
	}
}

// Answers to requests that arrived together leave in one system call.
func TestCoalesceSharesWrites(t *testing.T) {
	for _, tc := range []struct {
		opts       *conn.Options
		wantWrites int32
	}{
		{nil, 10},
		{coalesce, 1},
	} {
		t.Run(fmt.Sprintf("coalesce=%v", tc.opts != nil), func(t *testing.T) {
			a, b := tcpPair(t)
			cc := &countingConn{TCPConn: a.(*net.TCPConn)}
			srv := conn.New(cc, conn.Server, nil, tc.opts)
			peer := rawpeer.New(t, b, true)
			var burst []byte
			for i := range 10 {
				burst = append(burst, peer.Frame(true, 0, frame.OpText, fmt.Appendf(nil, "m%d", i))...)
			}
			peer.Write(burst)
			for range 10 {
				typ, msg, err := srv.ReadMessage(bg, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.WriteMessage(bg, typ, msg); err != nil {
					t.Fatal(err)
				}
			}
			// The next read waits for the network, and sends what is held first.
			go srv.ReadMessage(bg, nil)
			for i := range 10 {
				if _, got, err := peer.ReadFrame(); err != nil || string(got) != fmt.Sprintf("m%d", i) {
					t.Fatalf("reply %d: %q, %v", i, got, err)
				}
			}
			if got := cc.writes.Load(); got != tc.wantWrites {
				t.Errorf("%d writes for 10 answers, want %d", got, tc.wantWrites)
			}
		})
	}
}

// Under a burst of 64 messages of 1 KiB, the default buffers grow: the server
// reads the burst and sends the answers in a few system calls each, where
// 4 KiB buffers take over 16. A size the user chose stays. Over the raw
// socket, whose calls are not counted, the answers are checked.
func TestBuffersGrowUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     *conn.Options
		raw      bool
		maxCalls int32 // reads and writes each at most
		minReads int32
	}{
		{"default", coalesce, false, 6, 1},
		{"default-raw", coalesce, true, 0, 0},
		{"8KiB", &conn.Options{CoalesceWrites: true, ReadBufferSize: 8 << 10, WriteBufferSize: 8 << 10}, false, 100, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			cc := &countingConn{TCPConn: a.(*net.TCPConn)}
			var nc net.Conn = cc
			if tc.raw {
				nc = a
			}
			srv := conn.New(nc, conn.Server, nil, tc.opts)
			peer := rawpeer.New(t, b, true)
			const n = 64
			var burst []byte
			for i := range n {
				burst = append(burst, peer.Frame(true, 0, frame.OpBinary, bytes.Repeat([]byte{byte(i)}, 1<<10))...)
			}
			// Loopback TCP queues the whole burst before the write returns.
			peer.Write(burst)
			for range n {
				typ, msg, err := srv.ReadMessage(bg, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.WriteMessage(bg, typ, msg); err != nil {
					t.Fatal(err)
				}
			}
			reads := cc.reads.Load()
			go srv.ReadMessage(bg, nil) // sends what is held, then waits
			for i := range n {
				if _, got, err := peer.ReadFrame(); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1<<10)) {
					t.Fatalf("reply %d: %d bytes, %v", i, len(got), err)
				}
			}
			writes := cc.writes.Load()
			if !tc.raw && (reads > tc.maxCalls || writes > tc.maxCalls || reads < tc.minReads) {
				t.Errorf("%d reads and %d writes for %d messages of 1 KiB, want %d to %d reads, at most %d writes",
					reads, writes, n, tc.minReads, tc.maxCalls, tc.maxCalls)
			}
		})
	}
}

// A message written while the reader waits is not held: nothing else would
// send it.
func TestCoalesceWriteWhileReaderWaits(t *testing.T) {
	for _, tr := range coalesceTransports {
		t.Run(tr.name, func(t *testing.T) {
			srv, cli := connPair(t, tr, coalesce, nil)
			go srv.ReadMessage(bg, nil)
			// net.Pipe's writes wait for a reader.
			got := make(chan string)
			go func() {
				defer close(got)
				cli.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					_, msg, err := cli.ReadMessage(bg, nil)
					if err != nil {
						return
					}
					got <- string(msg)
				}
			}()
			for i := range 3 {
				time.Sleep(time.Duration(i) * 10 * time.Millisecond) // before and after the reader parks
				want := fmt.Sprintf("push %d", i)
				if err := srv.WriteMessage(bg, conn.Text, []byte(want)); err != nil {
					t.Fatal(err)
				}
				if msg := <-got; msg != want {
					t.Fatalf("got %q, want %q", msg, want)
				}
			}
		})
	}
}

// Without a reader, a held message waits for Flush, or for Close, which sends
// it before the close frame.
func TestCoalesceFlushAndClose(t *testing.T) {
	for _, tr := range coalesceTransports {
		t.Run(tr.name, func(t *testing.T) {
			srv, cli := connPair(t, tr, coalesce, nil)
			if err := srv.WriteMessage(bg, conn.Text, []byte("held")); err != nil {
				t.Fatal(err)
			}
			cli.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, got, err := cli.ReadMessage(bg, nil); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("before Flush: %q, %v; want the message held", got, err)
			}
			flushed := make(chan error, 1)
			go func() { flushed <- srv.Flush(bg) }()
			cli.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, got, err := cli.ReadMessage(bg, nil); err != nil || string(got) != "held" {
				t.Fatalf("after Flush: %q, %v", got, err)
			}
			if err := <-flushed; err != nil {
				t.Fatalf("Flush: %v", err)
			}

			if err := srv.WriteMessage(bg, conn.Text, []byte("last")); err != nil {
				t.Fatal(err)
			}
			closed := make(chan error, 1)
			go func() { closed <- srv.Close(conn.CloseNormal, "") }()
			if _, got, err := cli.ReadMessage(bg, nil); err != nil || string(got) != "last" {
				t.Fatalf("before the close frame: %q, %v", got, err)
			}
			var ce *conn.CloseError
			if _, _, err := cli.ReadMessage(bg, nil); !errors.As(err, &ce) || ce.Code != conn.CloseNormal {
				t.Fatalf("then %v, want close %d", err, conn.CloseNormal)
			}
			if err := <-closed; err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// A frame too large to hold goes out with what is held, in order; so does a
// control frame.
func TestCoalesceLargeAndControl(t *testing.T) {
	for _, role := range []conn.Role{conn.Server, conn.Client} {
		t.Run(fmt.Sprint("server=", role), func(t *testing.T) {
			a, b := tcpPair(t)
			c := conn.New(a, role, nil, coalesce)
			peer := rawpeer.New(t, b, role == conn.Client)
			large := make([]byte, 3*conn.DefaultWriteBufferSize)
			for i := range large {
				large[i] = byte(i)
			}
			writes := []struct {
				op frame.Opcode
				p  []byte
			}{
				{frame.OpText, []byte("small")},
				{frame.OpBinary, large},
				{frame.OpText, []byte("after")},
			}
			for _, w := range writes {
				if err := c.WriteMessage(bg, conn.MessageType(w.op), w.p); err != nil {
					t.Fatal(err)
				}
			}
			go c.Ping(bg, []byte("p"))
			for _, w := range append(writes, struct {
				op frame.Opcode
				p  []byte
			}{frame.OpPing, []byte("p")}) {
				h, got, err := peer.ReadFrame()
				if err != nil || h.Op != w.op || string(got) != string(w.p) || h.Masked != (role == conn.Client) {
					t.Fatalf("frame %v (%d bytes, masked %v), %v; want %v (%d bytes)", h.Op, len(got), h.Masked, err, w.op, len(w.p))
				}
			}
		})
	}
}

// A reader does not wait behind a writer blocked on a peer that is not
// reading: it keeps reading, and the held frames go out with that write.
func TestCoalesceReaderNotBlockedByWriter(t *testing.T) {
	for _, tr := range coalesceTransports[1:] { // net.Pipe has no buffer to fill
		t.Run(tr.name, func(t *testing.T) {
			srv, cli := connPair(t, tr, coalesce, &conn.Options{ReadLimit: -1})
			if err := srv.WriteMessage(bg, conn.Text, []byte("held")); err != nil {
				t.Fatal(err)
			}
			large := make([]byte, 32<<20) // more than the socket buffers hold
			wrote := make(chan error, 1)
			go func() { wrote <- srv.WriteMessage(bg, conn.Binary, large) }()
			time.Sleep(50 * time.Millisecond) // let the large write block

			read := make(chan error, 1)
			go func() {
				_, msg, err := srv.ReadMessage(bg, nil)
				if err == nil && string(msg) != "ping?" {
					err = fmt.Errorf("read %q", msg)
				}
				read <- err
			}()
			if err := cli.WriteMessage(bg, conn.Text, []byte("ping?")); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-read:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the reader waited behind the blocked write")
			}
			cli.SetReadDeadline(time.Now().Add(10 * time.Second))
			for _, want := range []int{4, len(large)} {
				if _, msg, err := cli.ReadMessage(bg, nil); err != nil || len(msg) != want {
					t.Fatalf("got %d bytes, %v; want %d", len(msg), err, want)
				}
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
		})
	}
}
