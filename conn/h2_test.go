package conn_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/internal/h2test"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// h2Server serves an echo over TLS with HTTP/2, recording the HTTP version
// of each WebSocket and counting TCP connections. Extended CONNECT is on
// if the process has it (see h2test.Run).
type h2Server struct {
	*httptest.Server
	protos sync.Map // URL path -> r.Proto
	tcp    atomic.Int64
}

func newH2Server(t testing.TB, opts *conn.AcceptOptions) *h2Server {
	t.Helper()
	s := &h2Server{}
	echo := &conn.Handler{Options: opts, Serve: func(c *conn.Conn, r *http.Request) {
		var buf []byte
		for {
			typ, msg, err := c.ReadMessage(bg, buf)
			if err != nil {
				return
			}
			if c.WriteMessage(bg, typ, msg) != nil {
				return
			}
			buf = msg
		}
	}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.protos.Store(r.URL.Path, r.Proto)
		echo.ServeHTTP(w, r)
	}))
	s.EnableHTTP2 = true
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.tcp.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *h2Server) url(path string) string {
	return "wss" + strings.TrimPrefix(s.URL, "https") + path
}

func (s *h2Server) tlsConfig() *tls.Config {
	return s.Client().Transport.(*http.Transport).TLSClientConfig
}

// transport is an HTTP/2 client that can send extended CONNECT: x/net's,
// since net/http's own Transport refuses :protocol. Its idle connections
// close when the test ends.
func (s *h2Server) transport(t testing.TB) http.RoundTripper {
	//lint:ignore SA1019 net/http's Transport cannot send extended CONNECT
	tr := &http2.Transport{TLSClientConfig: s.tlsConfig()}
	var idle interface{ CloseIdleConnections() } = tr
	t.Cleanup(idle.CloseIdleConnections)
	return tr
}

// WebSockets over HTTP/2 (RFC 8441) echo messages of every size, plain and
// compressed with context takeover, each on an HTTP/2 stream.
func TestHTTP2Echo(t *testing.T) {
	if !h2test.Run(t, true) {
		return
	}
	t.Cleanup(leaktest.Check(t))
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", compress), func(t *testing.T) {
			var cfg *deflate.Config
			if compress {
				cfg = &deflate.Config{}
			}
			srv := newH2Server(t, &conn.AcceptOptions{Compression: cfg, Subprotocols: []string{"chat"}})
			tr := srv.transport(t)
			c, err := conn.Dial(bg, srv.url("/echo"), &conn.DialOptions{HTTP2: tr, Compression: cfg, Subprotocols: []string{"chat"}})
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := srv.protos.Load("/echo"); p != "HTTP/2.0" || c.Subprotocol() != "chat" || c.Compressed() != compress {
				t.Fatalf("over %v, subprotocol %q, compressed %v", p, c.Subprotocol(), c.Compressed())
			}
			// Each side of the 7-, 16- and 64-bit length boundaries, and
			// sizes of Autobahn's 9.x.
			for _, size := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 1 << 20, 8 << 20} {
				for _, text := range []bool{false, true} {
					msg := payload(size, text)
					typ := conn.Binary
					if text {
						typ = conn.Text
					}
					if err := c.WriteMessage(bg, typ, msg); err != nil {
						t.Fatal(err)
					}
					gt, got, err := c.ReadMessage(bg, nil)
					if err != nil || gt != typ || !bytes.Equal(got, msg) {
						t.Fatalf("%d bytes: got %v, %d bytes, %v", size, gt, len(got), err)
					}
				}
			}
			if err := c.Close(conn.CloseNormal, "done"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A hundred WebSockets at once share one TCP connection.
func TestHTTP2Multiplexed(t *testing.T) {
	if !h2test.Run(t, true) {
		return
	}
	t.Cleanup(leaktest.Check(t))
	srv := newH2Server(t, nil)
	tr := srv.transport(t)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := conn.Dial(bg, srv.url(fmt.Sprint("/", i)), &conn.DialOptions{HTTP2: tr})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(conn.CloseNormal, "")
			for k := range 10 {
				msg := fmt.Appendf(nil, "%d-%d", i, k)
				if err := c.WriteMessage(bg, conn.Text, msg); err != nil {
					errs <- err
					return
				}
				if _, got, err := c.ReadMessage(bg, nil); err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("got %q %v, want %q", got, err, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := srv.tcp.Load(); got != 1 {
		t.Fatalf("%d WebSockets took %d TCP connections, want 1", n, got)
	}
}

// A server without extended CONNECT: Dial falls back to HTTP/1.1, and a
// plain HTTP/2 request is refused with the error that names the setting.
func TestHTTP2NotOffered(t *testing.T) {
	if !h2test.Run(t, false) {
		return
	}
	t.Cleanup(leaktest.Check(t))
	srv := newH2Server(t, nil)
	tr := srv.transport(t)
	c, err := conn.Dial(bg, srv.url("/fallback"), &conn.DialOptions{HTTP2: tr, TLSConfig: srv.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := srv.protos.Load("/fallback"); p != "HTTP/1.1" {
		t.Fatalf("opened over %v, want HTTP/1.1", p)
	}
	c.Close(conn.CloseNormal, "")

	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "GODEBUG=http2xconnect=1") {
		t.Fatalf("a plain HTTP/2 request: %s %q", resp.Status, body)
	}
}

// On an HTTP/2 stream, a write to a client that does not read ends at its
// context's deadline, as on a socket, and the handler's stream ends.
func TestHTTP2BoundedWrite(t *testing.T) {
	if !h2test.Run(t, true) {
		return
	}
	t.Cleanup(leaktest.Check(t))
	result := make(chan error, 1)
	srv := httptest.NewUnstartedServer(&conn.Handler{Serve: func(c *conn.Conn, r *http.Request) {
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		defer cancel()
		var err error
		for err == nil {
			err = c.WriteMessage(ctx, conn.Binary, make([]byte, 1<<20))
		}
		result <- err
		c.Close(conn.CloseNormal, "")
	}})
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	hs := &h2Server{Server: srv}
	c, err := conn.Dial(bg, hs.url("/"), &conn.DialOptions{HTTP2: hs.transport(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.NetConn().Close()
	select {
	case err := <-result:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the write to a client that does not read: %v", err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing
		t.Fatal("the write is still blocked")
	}
}

// BenchmarkHTTP2 compares WebSockets over HTTP/2 (RFC 8441) with HTTP/1.1,
// over TLS on loopback: setup is dialing a WebSocket (the TLS connection
// already made for HTTP/2, which is the point of it; a new one each time
// for HTTP/1.1) and closing it; echo is a 1 KiB message there and back.
// It needs the process started with GODEBUG=http2xconnect=1:
//
//	GODEBUG=http2xconnect=1 go test -run '^$' -bench HTTP2 ./conn
func BenchmarkHTTP2(b *testing.B) {
	if !h2test.On() {
		b.Skip("run with GODEBUG=http2xconnect=1")
	}
	for _, version := range []string{"HTTP/1.1", "HTTP/2"} {
		srv := newH2Server(b, nil)
		opts := &conn.DialOptions{TLSConfig: srv.tlsConfig()}
		if version == "HTTP/2" {
			opts.HTTP2 = srv.transport(b)
		}
		b.Run("setup/"+version, func(b *testing.B) {
			for b.Loop() {
				c, err := conn.Dial(bg, srv.url("/"), opts)
				if err != nil {
					b.Fatal(err)
				}
				c.Close(conn.CloseNormal, "")
			}
		})
		b.Run("echo-1KiB/"+version, func(b *testing.B) {
			c, err := conn.Dial(bg, srv.url("/"), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			msg := payload(1<<10, false)
			var buf []byte
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if err := c.WriteMessage(bg, conn.Binary, msg); err != nil {
					b.Fatal(err)
				}
				if _, buf, err = c.ReadMessage(bg, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
