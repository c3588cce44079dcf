package conn_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/rawpeer"
)

// serverWithDeflateClient returns a server Conn that negotiated
// permessage-deflate with a raw client, and the client's compressor.
func serverWithDeflateClient(t *testing.T) (*conn.Conn, *rawpeer.Peer, *deflate.Compressor) {
	t.Helper()
	a, b := tcpPair(t)
	errc := make(chan error, 1)
	var srv *conn.Conn
	go func() {
		var err error
		srv, err = conn.AcceptConn(a, &conn.AcceptOptions{Compression: &deflate.Config{}})
		errc <- err
	}()
	if _, err := b.Write([]byte(deflateOffer)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("%s, extensions %q", resp.Status, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	a2 := deflate.Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	return srv, rawpeer.New(t, b, true), deflate.NewCompressor(a2, false, 0)
}

// serverForFrames returns a server Conn with a raw client, having
// negotiated permessage-deflate if compressed, and the client's frame
// encoder: compressed, it compresses each payload (with context takeover)
// and sets RSV1 on the frame that begins a message.
func serverForFrames(t *testing.T, compressed bool) (*conn.Conn, *rawpeer.Peer, func(frame.Header, []byte) []byte) {
	t.Helper()
	if !compressed {
		srv, peer := serverWithRawClient(t, nil)
		return srv, peer, encode
	}
	srv, peer, comp := serverWithDeflateClient(t)
	return srv, peer, func(h frame.Header, p []byte) []byte {
		z, err := comp.Compress(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if h.Op != frame.OpContinuation {
			h.Rsv |= frame.Rsv1
		}
		return encode(h, z)
	}
}

// closeCleanly closes srv while its peer answers the close, and checks that
// the close handshake completes.
func closeCleanly(t *testing.T, srv *conn.Conn, peer *rawpeer.Peer) {
	t.Helper()
	go func() {
		peer.ExpectClose(conn.CloseNormal)
		peer.Send(true, frame.OpClose, closePayload(1000, ""))
	}()
	if err := srv.Close(conn.CloseNormal, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// A compressed message in fragments, with control frames between them,
// inflates whole; RSV1 rides on its first frame only.
func TestCompressedFragments(t *testing.T) {
	defer leaktest.Check(t)()
	srv, peer, comp := serverWithDeflateClient(t)
	want := bytes.Repeat([]byte("compressible text, "), 500)
	for range 2 { // the second message relies on the window the first left
		z, err := comp.Compress(nil, want)
		if err != nil {
			t.Fatal(err)
		}
		third := len(z) / 3
		peer.Write(encode(frame.Header{Rsv: frame.Rsv1, Op: frame.OpText, Masked: true}, z[:third]))
		peer.Send(true, frame.OpPing, []byte("between"))
		peer.Write(encode(frame.Header{Op: frame.OpContinuation, Masked: true}, z[third:2*third]))
		peer.Send(true, frame.OpPong, nil)
		peer.Write(encode(frame.Header{Fin: true, Op: frame.OpContinuation, Masked: true}, z[2*third:]))
		typ, got, err := srv.ReadMessage(bg, nil)
		if err != nil || typ != conn.Text || !bytes.Equal(got, want) {
			t.Fatalf("read %v, %d bytes, %v", typ, len(got), err)
		}
		if h, p, err := peer.ReadFrame(); err != nil || h.Op != frame.OpPong || string(p) != "between" {
			t.Fatalf("pong: %v %q %v", h.Op, p, err)
		}
	}
	// RSV1 on a continuation frame breaks RFC 7692 section 6.
	peer.Write(encode(frame.Header{Op: frame.OpBinary, Masked: true}, []byte{0}))
	peer.Write(encode(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpContinuation, Masked: true}, []byte{0}))
	if _, _, err := srv.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseProtocolError {
		t.Fatalf("RSV1 on a continuation: %v", err)
	}
	peer.ExpectClose(conn.CloseProtocolError)
	peer.HangUp()
}

// A message that NextReader opened and the caller left part read is read to
// its end when the next one is asked for, whichever call asks: compressed,
// it is inflated, since with context takeover the messages after it refer
// to its text; text must be valid UTF-8 to its end.
func TestSkipUnread(t *testing.T) {
	msgs := [][]byte{
		bytes.Repeat([]byte("the first message, "), 300),
		bytes.Repeat([]byte("the first message, then the second, "), 200),
		bytes.Repeat([]byte("the second, then the first message, "), 100),
	}
	bad := append(bytes.Clone(msgs[0]), 0xff)
	for _, tc := range []struct {
		name       string
		compressed bool
		first      []byte
		next       func(*conn.Conn) ([]byte, error)
		wantClose  conn.CloseCode // 0: the next messages arrive intact
	}{
		{"plain/ReadMessage", false, msgs[0], readMessage, 0},
		{"plain/NextReader", false, msgs[0], readStreamed, 0},
		{"compressed/ReadMessage", true, msgs[0], readMessage, 0},
		{"compressed/NextReader", true, msgs[0], readStreamed, 0},
		{"plain/bad-utf8", false, bad, readMessage, conn.CloseInvalidPayload},
		{"compressed/bad-utf8", true, bad, readStreamed, conn.CloseInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, peer, enc := serverForFrames(t, tc.compressed)
			for _, m := range append([][]byte{tc.first}, msgs[1:]...) {
				peer.Write(enc(frame.Header{Fin: true, Op: frame.OpText, Masked: true}, m))
			}
			_, r, err := srv.NextReader(bg)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, msgs[0][:10]) {
				t.Fatalf("first bytes %q, %v", head, err)
			}
			if tc.wantClose != 0 {
				if _, err := tc.next(srv); conn.CloseStatus(err) != tc.wantClose {
					t.Fatalf("next message: %v, want close %d", err, tc.wantClose)
				}
				peer.ExpectClose(tc.wantClose)
				peer.HangUp()
				return
			}
			for i, want := range msgs[1:] {
				if got, err := tc.next(srv); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: %d bytes, %v", i+2, len(got), err)
				}
			}
			if n, err := r.Read(head); n != 0 || err != io.EOF {
				t.Fatalf("the skipped message's reader afterwards: %d, %v", n, err)
			}
			closeCleanly(t, srv, peer)
		})
	}
}

func readMessage(c *conn.Conn) ([]byte, error) {
	_, p, err := c.ReadMessage(bg, nil)
	return p, err
}

func readStreamed(c *conn.Conn) ([]byte, error) {
	_, r, err := c.NextReader(bg)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// A compressor left unused gives its state back, with context takeover too;
// the messages after it start a fresh context, which the peer, keeping its
// window, inflates all the same.
func TestIdleCompressorReleased(t *testing.T) {
	defer leaktest.Check(t)()
	defer conn.SetCompressorIdle(20 * time.Millisecond)()
	const pairs = 4
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &deflate.Config{}
	accepted := make(chan *conn.Conn, pairs)
	go func() {
		for range pairs {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c, err := conn.AcceptConn(nc, &conn.AcceptOptions{Compression: cfg})
			if err != nil {
				nc.Close()
				return
			}
			accepted <- c
		}
	}()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // a released compressor sits in a pool until the second
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	msg := bytes.Repeat([]byte(`{"symbol":"ABC","price":12.5,"volume":300},`), 40)
	var conns [][2]*conn.Conn
	exchange := func() {
		t.Helper()
		for _, p := range conns {
			for _, dir := range [][2]*conn.Conn{p, {p[1], p[0]}} {
				if err := dir[0].WriteMessage(bg, conn.Text, msg); err != nil {
					t.Fatal(err)
				}
				if _, got, err := dir[1].ReadMessage(bg, nil); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
			}
		}
	}
	for range pairs {
		cli, err := conn.Dial(bg, "ws://"+ln.Addr().String()+"/", &conn.DialOptions{Compression: cfg})
		if err != nil {
			t.Fatal(err)
		}
		srv := <-accepted
		if !cli.Compressed() || !srv.Compressed() {
			t.Fatal("compression not negotiated")
		}
		conns = append(conns, [2]*conn.Conn{srv, cli})
	}
	exchange()
	// Each side's compressor holds about 800 KB while in use.
	var perConn int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if perConn = (int64(heap()) - int64(before)) / (2 * pairs); perConn < 100<<10 {
			break
		}
	}
	if perConn >= 100<<10 {
		t.Fatalf("a connection whose compressor went idle holds %d B, want < 100 KiB", perConn)
	}
	t.Logf("a connection whose compressor went idle holds %d B", perConn)
	exchange()
	// A streamed message keeps its compressor however long it stays open.
	w, err := conns[0][0].NextWriter(bg, conn.Text)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := w.Write(msg[:len(msg)/2]); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			time.Sleep(100 * time.Millisecond) // several idle periods
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat(msg[:len(msg)/2], 3)
	if _, got, err := conns[0][1].ReadMessage(bg, nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("streamed message: %d bytes, %v", len(got), err)
	}
	for _, p := range conns {
		p[1].NetConn().Close()
		p[0].NetConn().Close()
	}
}

// A read deadline in the middle of a message read through NextReader leaves
// a plain message to resume; a compressed one fails the connection, since
// the inflater cannot take up a stream whose input failed, and every read
// after says so.
func TestStreamedDeadline(t *testing.T) {
	want := bytes.Repeat([]byte("a message cut short, "), 100)
	for _, compressed := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[compressed], func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, peer, enc := serverForFrames(t, compressed)
			b := enc(frame.Header{Fin: true, Op: frame.OpBinary, Masked: true}, want)
			peer.Write(b[:len(b)/2])
			_, r, err := srv.NextReader(bg)
			if err != nil {
				t.Fatal(err)
			}
			srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			got, err := io.ReadAll(r)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read mid-message: %v", err)
			}
			srv.SetReadDeadline(time.Time{})
			if compressed {
				if conn.CloseStatus(err) != conn.CloseAbnormal {
					t.Fatalf("compressed read mid-message: %v, want the connection failed", err)
				}
				if _, _, err2 := srv.ReadMessage(bg, nil); err2 != err {
					t.Fatalf("next read: %v, want %v", err2, err)
				}
				peer.ExpectEOF()
				return
			}
			peer.Write(b[len(b)/2:])
			rest, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(append(got, rest...), want) {
				t.Fatalf("resumed: %d of %d bytes, %v", len(got)+len(rest), len(want), err)
			}
			closeCleanly(t, srv, peer)
		})
	}
}

// A peer may end a message's deflate stream with a block marked final
// (RFC 7692, section 7.2.3.3); what follows it in the message is no data,
// and the message still ends where its frames do.
func TestFinalBlock(t *testing.T) {
	want := bytes.Repeat([]byte("ended with a final block, "), 50)
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	fw.Write(want)
	fw.Close()
	// More than the inflater reads ahead, in frames of their own.
	payload := append(z.Bytes(), bytes.Repeat([]byte("and bytes after it, "), 200)...)
	for _, tc := range []struct {
		name string
		read func(*conn.Conn) ([]byte, error)
	}{
		{"ReadMessage", readMessage},
		{"NextReader", readStreamed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			srv, peer, _ := serverWithDeflateClient(t)
			half, end := z.Len()/2, z.Len()+10
			peer.Write(encode(frame.Header{Op: frame.OpText, Rsv: frame.Rsv1, Masked: true}, payload[:half]))
			peer.Write(encode(frame.Header{Op: frame.OpContinuation, Masked: true}, payload[half:end]))
			peer.Write(encode(frame.Header{Fin: true, Op: frame.OpContinuation, Masked: true}, payload[end:]))
			peer.Send(true, frame.OpText, []byte("next"))
			if got, err := tc.read(srv); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("message: %d bytes, %v", len(got), err)
			}
			if got, err := tc.read(srv); err != nil || string(got) != "next" {
				t.Fatalf("the message after: %.40q, %v", got, err)
			}
			closeCleanly(t, srv, peer)
		})
	}
}

// A message whose peer hangs up between its fragments is no message, read
// whole or streamed, compressed or not.
func TestTruncatedMessage(t *testing.T) {
	text := bytes.Repeat([]byte("cut between fragments, "), 20)
	for _, compressed := range []bool{false, true} {
		for _, read := range []struct {
			name string
			fn   func(*conn.Conn) ([]byte, error)
		}{{"ReadMessage", readMessage}, {"NextReader", readStreamed}} {
			name := map[bool]string{false: "plain/", true: "compressed/"}[compressed] + read.name
			t.Run(name, func(t *testing.T) {
				defer leaktest.Check(t)()
				srv, peer, enc := serverForFrames(t, compressed)
				peer.Write(enc(frame.Header{Op: frame.OpBinary, Masked: true}, text))
				peer.NC.Close()
				got, err := read.fn(srv)
				if conn.CloseStatus(err) != conn.CloseAbnormal || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("got %d bytes, %v; want the connection failed mid-message", len(got), err)
				}
			})
		}
	}
}
