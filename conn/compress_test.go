package conn_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// serverWithDeflateClient returns a server Conn that negotiated
// permessage-deflate with a raw client, and the client's compressor.
func serverWithDeflateClient(t *testing.T) (*conn.Conn, *rawPeer, *deflate.Compressor) {
	t.Helper()
	a, b := tcpPair(t)
	errc := make(chan error, 1)
	var srv *conn.Conn
	go func() {
		var err error
		srv, err = conn.AcceptConn(a, &conn.AcceptOptions{Compression: &deflate.Config{}})
		errc <- err
	}()
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	if _, err := b.Write([]byte(req)); err != nil {
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
	return srv, &rawPeer{t: t, nc: b, masked: true}, deflate.NewCompressor(a2, false, 0)
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
		peer.write(encode(frame.Header{Rsv: frame.Rsv1, Op: frame.OpText, Masked: true}, z[:third]))
		peer.send(true, frame.OpPing, []byte("between"))
		peer.write(encode(frame.Header{Op: frame.OpContinuation, Masked: true}, z[third:2*third]))
		peer.send(true, frame.OpPong, nil)
		peer.write(encode(frame.Header{Fin: true, Op: frame.OpContinuation, Masked: true}, z[2*third:]))
		typ, got, err := srv.ReadMessage(bg, nil)
		if err != nil || typ != conn.Text || !bytes.Equal(got, want) {
			t.Fatalf("read %v, %d bytes, %v", typ, len(got), err)
		}
		if h, p, err := peer.read(); err != nil || h.Op != frame.OpPong || string(p) != "between" {
			t.Fatalf("pong: %v %q %v", h.Op, p, err)
		}
	}
	// RSV1 on a continuation frame breaks RFC 7692 section 6.
	peer.write(encode(frame.Header{Op: frame.OpBinary, Masked: true}, []byte{0}))
	peer.write(encode(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpContinuation, Masked: true}, []byte{0}))
	if _, _, err := srv.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseProtocolError {
		t.Fatalf("RSV1 on a continuation: %v", err)
	}
	peer.expectClose(conn.CloseProtocolError)
	peer.hangUp()
}
