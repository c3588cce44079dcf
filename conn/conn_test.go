package conn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/rawpeer"
)

var bg = context.Background()

func payload(n int, text bool) []byte {
	b := make([]byte, n)
	for i := range b {
		if text {
			b[i] = 'a' + byte(i%26)
		} else {
			b[i] = byte(i*7 + i>>8)
		}
	}
	return b
}

func TestEcho(t *testing.T) {
	for _, tr := range transports {
		for _, size := range []int{0, 1, 125, 126, 4095, 4096, 65535, 65536, 1 << 20} {
			for _, typ := range []conn.MessageType{conn.Text, conn.Binary} {
				t.Run(fmt.Sprintf("%s/%d/%v", tr.name, size, typ), func(t *testing.T) {
					defer leaktest.Check(t)()
					srv, cli := connPair(t, tr, nil, nil)
					go func() {
						var buf []byte
						for {
							typ, msg, err := srv.ReadMessage(bg, buf)
							if err != nil {
								return
							}
							if srv.WriteMessage(bg, typ, msg) != nil {
								return
							}
							buf = msg
						}
					}()
					want := payload(size, typ == conn.Text)
					for range 3 {
						if err := cli.WriteMessage(bg, typ, want); err != nil {
							t.Fatal(err)
						}
						gotTyp, got, err := cli.ReadMessage(bg, nil)
						if err != nil {
							t.Fatal(err)
						}
						if gotTyp != typ || !bytes.Equal(got, want) {
							t.Fatalf("echo: got %v %d bytes, want %v %d bytes", gotTyp, len(got), typ, len(want))
						}
					}
					if err := cli.Close(conn.CloseNormal, "done"); err != nil {
						t.Fatalf("close: %v", err)
					}
				})
			}
		}
	}
}

// A fragmented message with control frames between its fragments arrives
// whole, and the pings among them are answered in order.
func TestFragmentsWithControlFrames(t *testing.T) {
	defer leaktest.Check(t)()
	var pongs []string
	srv, peer := serverWithRawClient(t, &conn.Options{OnPong: func(p []byte) { pongs = append(pongs, string(p)) }})
	peer.Send(false, frame.OpText, []byte("Hel"))
	peer.Send(true, frame.OpPing, []byte("p1"))
	peer.Send(false, frame.OpContinuation, []byte("lo, "))
	peer.Send(true, frame.OpPong, []byte("unsolicited"))
	peer.Send(false, frame.OpContinuation, nil)
	peer.Send(true, frame.OpPing, []byte("p2"))
	peer.Send(true, frame.OpContinuation, []byte("world"))
	typ, msg, err := srv.ReadMessage(bg, nil)
	if err != nil || typ != conn.Text || string(msg) != "Hello, world" {
		t.Fatalf("got %v %q %v", typ, msg, err)
	}
	for _, want := range []string{"p1", "p2"} {
		h, p, err := peer.ReadFrame()
		if err != nil || h.Op != frame.OpPong || string(p) != want || h.Masked {
			t.Fatalf("got %v %q masked=%v %v, want pong %q", h.Op, p, h.Masked, err, want)
		}
	}
	if len(pongs) != 1 || pongs[0] != "unsolicited" {
		t.Fatalf("OnPong saw %q", pongs)
	}
	peer.Send(true, frame.OpClose, frame.AppendClose(nil, conn.CloseNormal, ""))
	if _, _, err := srv.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseNormal {
		t.Fatalf("after close: %v", err)
	}
	peer.ExpectClose(conn.CloseNormal)
	peer.ExpectEOF()
}

func header(fin bool, rsv byte, op frame.Opcode, masked bool, length int64) []byte {
	return frame.AppendHeader(nil, frame.Header{Fin: fin, Rsv: rsv, Op: op, Masked: masked, Key: [4]byte{1, 2, 3, 4}, Length: length})
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// Every broken rule fails the connection with its close code, sent to the
// peer and reported to the reader.
func TestReceivedViolations(t *testing.T) {
	m := func(fin bool, op frame.Opcode, p []byte) []byte {
		return encode(frame.Header{Fin: fin, Op: op, Masked: true}, p)
	}
	u := func(fin bool, op frame.Opcode, p []byte) []byte {
		return encode(frame.Header{Fin: fin, Op: op}, p)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	type row struct {
		name   string
		server bool // the Conn under test is the server, its peer a client
		limit  int64
		send   []byte
		want   frame.CloseCode
	}
	rows := []row{
		{"rsv1 without extension", true, 0, encode(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpText, Masked: true}, []byte("x")), 1002},
		{"rsv2", true, 0, encode(frame.Header{Fin: true, Rsv: frame.Rsv2, Op: frame.OpBinary, Masked: true}, nil), 1002},
		{"rsv3 on ping", true, 0, encode(frame.Header{Fin: true, Rsv: frame.Rsv3, Op: frame.OpPing, Masked: true}, nil), 1002},
		{"opcode 3", true, 0, m(true, 3, nil), 1002},
		{"opcode 7", true, 0, m(true, 7, nil), 1002},
		{"opcode 0xB", true, 0, m(true, 0xB, nil), 1002},
		{"opcode 0xF", true, 0, m(true, 0xF, nil), 1002},
		{"ping over 125 bytes", true, 0, m(true, frame.OpPing, make([]byte, 126)), 1002},
		{"fragmented ping", true, 0, m(false, frame.OpPing, nil), 1002},
		{"length top bit", true, 0, append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 1, 2, 3, 4), 1002},
		{"non-minimal 16-bit length", true, 0, append([]byte{0x82, 0xfe, 0, 5}, 1, 2, 3, 4, 5, 6, 7, 8, 9), 1002},
		{"non-minimal 64-bit length", true, 0, append([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5}, 1, 2, 3, 4, 5, 6, 7, 8, 9), 1002},
		{"unmasked client frame", true, 0, u(true, frame.OpText, []byte("hi")), 1002},
		{"continuation without start", true, 0, m(true, frame.OpContinuation, []byte("x")), 1002},
		{"text inside fragmented message", true, 0, cat(m(false, frame.OpText, []byte("a")), m(true, frame.OpText, []byte("b"))), 1002},
		{"binary inside fragmented message", true, 0, cat(m(false, frame.OpBinary, []byte("a")), m(true, frame.OpBinary, []byte("b"))), 1002},
		{"close payload of 1 byte", true, 0, m(true, frame.OpClose, []byte{3}), 1002},
		{"close code 0", true, 0, m(true, frame.OpClose, closePayload(0, "")), 1002},
		{"close code 999", true, 0, m(true, frame.OpClose, closePayload(999, "")), 1002},
		{"close code 1004", true, 0, m(true, frame.OpClose, closePayload(1004, "")), 1002},
		{"close code 1005", true, 0, m(true, frame.OpClose, closePayload(1005, "")), 1002},
		{"close code 1006", true, 0, m(true, frame.OpClose, closePayload(1006, "")), 1002},
		{"close code 1015", true, 0, m(true, frame.OpClose, closePayload(1015, "")), 1002},
		{"close code 5000", true, 0, m(true, frame.OpClose, closePayload(5000, "")), 1002},
		{"close reason not UTF-8", true, 0, m(true, frame.OpClose, closePayload(1000, "a\xffb")), 1007},
		{"text not UTF-8", true, 0, m(true, frame.OpText, []byte("ok\xc0\xafno")), 1007},
		{"text ends mid-rune", true, 0, m(true, frame.OpText, []byte("ok\xe2\x82")), 1007},
		{"third fragment not UTF-8", true, 0, cat(m(false, frame.OpText, []byte("a")), m(false, frame.OpContinuation, []byte("b")), m(false, frame.OpContinuation, []byte("\xed\xa0\x80"))), 1007},
		{"message over limit", true, 100, m(true, frame.OpBinary, make([]byte, 101)), 1009},
		{"fragments over limit", true, 100, cat(m(false, frame.OpBinary, make([]byte, 60)), m(true, frame.OpContinuation, make([]byte, 41))), 1009},
		{"length 2^63-1", true, 0, header(true, 0, frame.OpBinary, true, math.MaxInt64), 1009},
		{"masked server frame", false, 0, m(true, frame.OpText, []byte("hi")), 1002},
		{"server frame over limit", false, 10, u(true, frame.OpText, make([]byte, 11)), 1009},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			opts := &conn.Options{ReadLimit: r.limit}
			var c *conn.Conn
			var peer *rawpeer.Peer
			if r.server {
				c, peer = serverWithRawClient(t, opts)
			} else {
				c, peer = clientWithRawServer(t, opts)
			}
			peer.Write(r.send)
			_, _, err := c.ReadMessage(bg, nil)
			ce, ok := errors.AsType[*conn.CloseError](err)
			if !ok || ce.Code != r.want || !ce.Local {
				t.Fatalf("ReadMessage: %v, want a local close %d", err, r.want)
			}
			peer.ExpectClose(r.want)
			peer.HangUp()
			// The connection is over: later calls fail the same way, without panics.
			if _, _, err2 := c.ReadMessage(bg, nil); err2 != err {
				t.Fatalf("second read: %v, want %v", err2, err)
			}
			if err := c.WriteMessage(bg, conn.Text, []byte("x")); err == nil {
				t.Fatal("write after failure succeeded")
			}
			c.Close(conn.CloseNormal, "")
		})
	}
}

// A text message is failed at its first invalid byte, before the rest of
// the message (or even of the frame) arrives.
func TestUTF8FailFast(t *testing.T) {
	rows := []struct {
		name string
		send func(p *rawpeer.Peer)
	}{
		{"third fragment", func(p *rawpeer.Peer) {
			p.Send(false, frame.OpText, []byte("κόσμε"))
			p.Send(false, frame.OpContinuation, []byte("ok"))
			p.Send(false, frame.OpContinuation, []byte("\xce\xba\xf4\x90\x80\x80"))
		}},
		{"inside a frame", func(p *rawpeer.Peer) {
			b := p.Frame(true, 0, frame.OpText, append([]byte("abc\xf5"), make([]byte, 1000)...))
			p.Write(b[:len(b)-900]) // the frame's tail never comes
		}},
		{"split rune", func(p *rawpeer.Peer) {
			p.Send(false, frame.OpText, []byte("ab\xed"))
			p.Send(false, frame.OpContinuation, []byte("\xa0")) // a surrogate: invalid at this byte
		}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, peer := serverWithRawClient(t, nil)
			errc := make(chan error, 1)
			go func() {
				_, _, err := srv.ReadMessage(bg, nil)
				errc <- err
			}()
			r.send(peer)
			peer.ExpectClose(conn.CloseInvalidPayload)
			peer.HangUp()
			if err := <-errc; conn.CloseStatus(err) != conn.CloseInvalidPayload {
				t.Fatalf("ReadMessage: %v", err)
			}
		})
	}
}

func TestCloseHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, cli := connPair(t, tr, nil, nil)
			errc := make(chan error, 1)
			go func() {
				_, _, err := srv.ReadMessage(bg, nil)
				errc <- err
			}()
			if err := cli.Close(4000, "bye"); err != nil {
				t.Fatalf("client close: %v", err)
			}
			err := <-errc
			ce, ok := errors.AsType[*conn.CloseError](err)
			if !ok || ce.Code != 4000 || ce.Reason != "bye" || ce.Local {
				t.Fatalf("server read: %v", err)
			}
			if err := srv.Close(conn.CloseNormal, ""); err != nil {
				t.Fatalf("server close after peer's: %v", err)
			}
			if _, _, err := cli.ReadMessage(bg, nil); conn.CloseStatus(err) != 4000 {
				t.Fatalf("client read after close: %v", err)
			}
			if err := cli.WriteMessage(bg, conn.Text, nil); !errors.Is(err, conn.ErrClosed) {
				t.Fatalf("client write after close: %v", err)
			}
		})
	}
}

// Close with no reader running drains the peer's messages until its close.
func TestCloseDrains(t *testing.T) {
	defer leaktest.Check(t)()
	srv, peer := serverWithRawClient(t, nil)
	go func() {
		peer.Send(true, frame.OpText, []byte("late"))
		peer.Send(true, frame.OpPing, nil)
		peer.ExpectClose(conn.CloseGoingAway)
		peer.Send(true, frame.OpClose, closePayload(1001, ""))
	}()
	if err := srv.Close(conn.CloseGoingAway, "restart"); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestCloseTimeout(t *testing.T) {
	defer leaktest.Check(t)()
	srv, peer := serverWithRawClient(t, &conn.Options{CloseTimeout: 100 * time.Millisecond})
	start := time.Now()
	err := srv.Close(conn.CloseNormal, "")
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Code != conn.CloseAbnormal {
		t.Fatalf("close: %v, want abnormal", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("close took %v", d)
	}
	peer.ExpectClose(conn.CloseNormal)
	peer.ExpectEOF()
}

// Close from many goroutines while others write: no panic, no race, every
// call returns.
func TestCloseDuringWrites(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	go func() {
		for {
			if _, _, err := srv.ReadMessage(bg, nil); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				if cli.WriteMessage(bg, conn.Binary, make([]byte, 100*i)) != nil {
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() { cli.Close(conn.CloseNormal, "") })
	}
	wg.Wait()
	srv.Close(conn.CloseNormal, "")
}

func TestConcurrentWriters(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, cli := connPair(t, tr, nil, nil)
			const writers, each = 8, 200
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						msg := fmt.Appendf(nil, "%d:%d:%s", w, i, strings.Repeat("x", (w*i)%5000))
						if err := cli.WriteMessage(bg, conn.Text, msg); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			next := make([]int, writers)
			var buf []byte
			for range writers * each {
				_, msg, err := srv.ReadMessage(bg, buf)
				if err != nil {
					t.Fatal(err)
				}
				var w, i int
				fmt.Sscanf(string(msg), "%d:%d:", &w, &i)
				if i != next[w] || len(msg) != len(fmt.Sprintf("%d:%d:", w, i))+(w*i)%5000 {
					t.Fatalf("writer %d: got message %d (%d bytes), want %d", w, i, len(msg), next[w])
				}
				next[w]++
				buf = msg
			}
			wg.Wait()
			go srv.ReadMessage(bg, nil)
			if err := cli.Close(conn.CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A deadline or a cancelled context, while waiting for a message or in the
// middle of one, leaves the connection usable.
func TestReadDeadlineResumes(t *testing.T) {
	defer leaktest.Check(t)()
	srv, peer := serverWithRawClient(t, nil)

	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	_, _, err := srv.ReadMessage(ctx, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle read: %v", err)
	}

	b := peer.Frame(false, 0, frame.OpText, []byte("hello "))
	b = append(b, peer.Frame(true, 0, frame.OpContinuation, []byte("world"))...)
	peer.Write(b[:10])
	srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, err = srv.ReadMessage(bg, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read mid-message: %v", err)
	}
	srv.SetReadDeadline(time.Time{})

	ctx, cancel = context.WithCancel(bg)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, _, err = srv.ReadMessage(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read mid-message: %v", err)
	}

	peer.Write(b[10:])
	typ, msg, err := srv.ReadMessage(bg, nil)
	if err != nil || typ != conn.Text || string(msg) != "hello world" {
		t.Fatalf("resumed read: %v %q %v", typ, msg, err)
	}
	peer.Send(true, frame.OpClose, nil)
	if _, _, err := srv.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseNoStatus {
		t.Fatalf("close without status: %v", err)
	}
	// An empty close is answered with an empty close.
	h, p, err := peer.ReadFrame()
	if err != nil || h.Op != frame.OpClose || len(p) != 0 {
		t.Fatalf("close answer: %v %x %v", h.Op, p, err)
	}
}

func TestWriteCancelled(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := cli.WriteMessage(ctx, conn.Text, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with cancelled ctx: %v", err)
	}
	if err := cli.WriteMessage(bg, conn.Text, []byte("after")); err != nil {
		t.Fatalf("write after a cancelled one: %v", err)
	}
	if _, msg, err := srv.ReadMessage(bg, nil); err != nil || string(msg) != "after" {
		t.Fatalf("read: %q %v", msg, err)
	}
	go srv.ReadMessage(bg, nil)
	cli.Close(conn.CloseNormal, "")
}

// NextWriter streams a message in fragments; NextReader reads it in pieces.
func TestStreaming(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, &conn.Options{WriteBufferSize: 256})
	want := payload(10000, true)
	go func() {
		w, err := cli.NextWriter(bg, conn.Text)
		if err != nil {
			t.Error(err)
			return
		}
		for p := want; len(p) > 0; p = p[min(len(p), 777):] {
			if _, err := w.Write(p[:min(len(p), 777)]); err != nil {
				t.Error(err)
				return
			}
		}
		if err := w.Close(); err != nil {
			t.Error(err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Error("write after close succeeded")
		}
	}()
	typ, r, err := srv.NextReader(bg)
	if err != nil || typ != conn.Text {
		t.Fatal(typ, err)
	}
	got, err := io.ReadAll(iotestHalfReader{r})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	go srv.ReadMessage(bg, nil)
	cli.Close(conn.CloseNormal, "")
}

// iotestHalfReader reads at most 100 bytes at a time.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 100)]) }

func TestPing(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	go srv.ReadMessage(bg, nil)
	go cli.ReadMessage(bg, nil)
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := cli.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := srv.Ping(ctx, make([]byte, 126)); err == nil {
		t.Fatal("ping of 126 bytes accepted")
	}
	cli.Close(conn.CloseNormal, "")
}

// A peer that goes silent is detected by the keepalive.
func TestKeepaliveHalfOpen(t *testing.T) {
	defer leaktest.Check(t)()
	srv, peer := serverWithRawClient(t, &conn.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond})
	h, _, err := peer.ReadFrame()
	if err != nil || h.Op != frame.OpPing {
		t.Fatalf("want a ping: %v %v", h.Op, err)
	}
	// Never answer.
	_, _, err = srv.ReadMessage(bg, nil)
	if conn.CloseStatus(err) != conn.CloseAbnormal {
		t.Fatalf("read: %v", err)
	}
}

// Steady-state reads and writes allocate nothing, also with a cancellable
// context passed to every call.
func TestReadWriteAllocs(t *testing.T) {
	cancellable, cancel := context.WithCancel(bg)
	defer cancel()
	for _, size := range []int{16, 1024, 64 << 10} {
		for name, ctx := range map[string]context.Context{"background": bg, "cancellable": cancellable} {
			t.Run(fmt.Sprintf("%d/%s", size, name), func(t *testing.T) {
				srv, cli := connPair(t, transports[1], nil, nil)
				msg := payload(size, true)
				buf := make([]byte, 0, size)
				round := func() {
					if err := cli.WriteMessage(ctx, conn.Text, msg); err != nil {
						t.Fatal(err)
					}
					var err error
					if _, buf, err = srv.ReadMessage(ctx, buf); err != nil {
						t.Fatal(err)
					}
					if err := srv.WriteMessage(ctx, conn.Binary, buf); err != nil {
						t.Fatal(err)
					}
					if _, buf, err = cli.ReadMessage(ctx, buf); err != nil {
						t.Fatal(err)
					}
				}
				round()
				if n := testing.AllocsPerRun(50, round); n != 0 {
					t.Fatalf("%v allocations per round trip", n)
				}
			})
		}
	}
}

// A data message waits for an open stream to end, and its context can
// abandon the wait.
func TestWriteWaitsForStream(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	w, err := cli.NextWriter(bg, conn.Text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("one ")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := cli.WriteMessage(ctx, conn.Text, []byte("abandoned")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write during a stream, ctx expiring: %v", err)
	}
	sent := make(chan error, 1)
	go func() { sent <- cli.WriteMessage(bg, conn.Text, []byte("after")) }()
	if _, err := w.Write([]byte("stream")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one stream", "after"} {
		if _, msg, err := srv.ReadMessage(bg, nil); err != nil || string(msg) != want {
			t.Fatalf("read %q, %v; want %q", msg, err, want)
		}
	}
	go srv.ReadMessage(bg, nil)
	go cli.ReadMessage(bg, nil)
	cli.Close(conn.CloseNormal, "")
}

// A writer waiting behind a frame that cannot go out can be cancelled.
func TestWriteWaitCancelled(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[0], nil, nil) // net.Pipe: a write blocks until read
	blocked := make(chan error, 1)
	go func() { blocked <- cli.WriteMessage(bg, conn.Binary, make([]byte, 100)) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := cli.WriteMessage(ctx, conn.Binary, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting writer: %v", err)
	}
	if _, msg, err := srv.ReadMessage(bg, nil); err != nil || len(msg) != 100 {
		t.Fatalf("read %d bytes, %v", len(msg), err)
	}
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	srv.NetConn().Close()
}

// A Conn that fails the connection with bytes still unread does not reset
// it, which could destroy its close frame before the peer reads it: it shuts
// its writing, so that the peer reads the close frame and then EOF.
func TestFailureWithUnreadBytes(t *testing.T) {
	defer leaktest.Check(t)()
	c, peer := serverWithRawClient(t, nil)
	junk := peer.Frame(true, 0, frame.OpBinary, make([]byte, 64<<10))
	peer.Write(append(peer.Frame(true, 0, 7, []byte("reserved opcode")), junk...))
	if _, _, err := c.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseProtocolError {
		t.Fatalf("ReadMessage: %v, want close 1002", err)
	}
	peer.ExpectClose(conn.CloseProtocolError)
	peer.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(peer.BR); err != nil {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	peer.NC.Close()
}

// TestHeartbeats: WritePing sends a ping without waiting (its pong reaches
// OnPong), WritePong an unsolicited pong, which a Conn takes without
// answering; both refuse payloads a control frame cannot carry.
func TestHeartbeats(t *testing.T) {
	pongs := make(chan string, 2)
	srv, cli := connPair(t, transports[1], &conn.Options{OnPong: func(p []byte) { pongs <- string(p) }}, &conn.Options{OnPong: func(p []byte) { pongs <- "client got " + string(p) }})
	go srv.ReadMessage(bg, nil)
	go cli.ReadMessage(bg, nil)
	if err := srv.WritePing(bg, []byte("hb1")); err != nil {
		t.Fatal(err)
	}
	if err := srv.WritePong(bg, []byte("hb2")); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case p := <-pongs:
			got[p] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("pongs seen: %v", got)
		}
	}
	if !got["hb1"] || !got["client got hb2"] {
		t.Fatalf("pongs seen: %v, want the answer to hb1 and the unsolicited hb2", got)
	}
	select {
	case p := <-pongs:
		t.Fatalf("an unsolicited pong was answered: %q", p)
	case <-time.After(100 * time.Millisecond):
	}
	long := make([]byte, 126)
	if err := srv.WritePing(bg, long); !errors.Is(err, frame.ErrControlTooLong) {
		t.Errorf("WritePing of 126 bytes: %v", err)
	}
	if err := srv.WritePong(bg, long); !errors.Is(err, frame.ErrControlTooLong) {
		t.Errorf("WritePong of 126 bytes: %v", err)
	}
}
