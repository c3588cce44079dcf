package hostile

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/rawpeer"
)

var bg = context.Background()

// kind is the end under test: our server behind either entry point, or our
// client.
type kind string

const (
	viaAccept     kind = "accept"     // conn.Accept behind httptest.NewServer
	viaAcceptConn kind = "acceptconn" // conn.AcceptConn on a raw listener
	viaDial       kind = "dial"       // conn.Dial to a fake server
)

var (
	servers = []kind{viaAccept, viaAcceptConn}
	every   = []kind{viaAccept, viaAcceptConn, viaDial}
)

// testKey is the key of RFC 6455's example handshake.
const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// served is how a connection under test ended: the handshake's error, or
// the messages its session read and the error that ended it.
type served struct {
	err  error
	msgs []string
}

// session runs on a connection under test until the connection ends.
type session func(c *conn.Conn) served

// echo sends every message back until the connection ends.
func echo(c *conn.Conn) served {
	var s served
	var buf []byte
	for {
		typ, msg, err := c.ReadMessage(bg, buf)
		if err != nil {
			s.err = err
			return s
		}
		s.msgs = append(s.msgs, string(msg))
		if err := c.WriteMessage(bg, typ, msg); err != nil {
			s.err = err
			return s
		}
		buf = msg
	}
}

// server is our server under test; the outcome of each connection it
// accepts arrives on results.
type server struct {
	addr    string
	results chan served
	stop    func()
}

// startServer serves sess behind conn.Accept (viaAccept) or conn.AcceptConn
// (viaAcceptConn). opts.MaxHeaderBytes bounds net/http's reading of the head
// too.
func startServer(t testing.TB, k kind, opts *conn.AcceptOptions, sess session) *server {
	t.Helper()
	s := &server{results: make(chan served, 16)}
	run := func(c *conn.Conn, err error) {
		if err != nil {
			s.results <- served{err: err}
			return
		}
		s.results <- sess(c)
	}
	switch k {
	case viaAccept:
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			run(conn.Accept(w, r, opts))
		}))
		if opts != nil && opts.MaxHeaderBytes > 0 {
			ts.Config.MaxHeaderBytes = opts.MaxHeaderBytes
		}
		ts.Start()
		s.addr, s.stop = ts.Listener.Addr().String(), ts.Close
	case viaAcceptConn:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					c, err := conn.AcceptConn(nc, opts)
					if err != nil {
						nc.Close() // AcceptConn leaves that to us
					}
					run(c, err)
				}()
			}
		})
		// Sessions end by themselves; leaktest catches those that do not.
		s.addr, s.stop = ln.Addr().String(), func() { ln.Close(); wg.Wait() }
	default:
		t.Fatalf("no server of kind %s", k)
	}
	return s
}

// outcome waits for the end of the next connection.
func outcome(t testing.TB, results <-chan served) served {
	t.Helper()
	select {
	case s := <-results:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the connection under test did not end")
		return served{}
	}
}

// request returns an opening handshake request: the request line, the
// standard fields but those named in drop, then extra lines.
func request(line, host string, drop []string, extra ...string) string {
	fields := [][2]string{
		{"Host", host},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Key", testKey},
		{"Sec-WebSocket-Version", "13"},
	}
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, f := range fields {
		if !slices.Contains(drop, f[0]) {
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

const getLine = "GET /ws HTTP/1.1"

// peer is the raw far end of a connection under test.
type peer = rawpeer.Peer

func dialPeer(t testing.TB, addr string) *peer { return rawpeer.Dial(t, addr) }

// rig is a connection under test of some kind, set up and handshaken, with
// its raw peer.
type rig struct {
	*peer
	result <-chan served
	stop   func()
}

// setup opens a connection of kind k with options o, negotiating
// permessage-deflate if zip, running sess on our side.
func setup(t testing.TB, k kind, o conn.Options, zip bool, sess session) *rig {
	t.Helper()
	var cfg *deflate.Config
	if zip {
		cfg = &deflate.Config{}
	}
	if k == viaDial {
		return dialRig(t, o, cfg, sess)
	}
	s := startServer(t, k, &conn.AcceptOptions{Options: o, Compression: cfg}, sess)
	p := dialPeer(t, s.addr)
	var ext []string
	if zip {
		ext = append(ext, "Sec-WebSocket-Extensions: permessage-deflate")
	}
	p.Write([]byte(request(getLine, s.addr, nil, ext...)))
	p.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(p.BR, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || zip != (resp.Header.Get("Sec-WebSocket-Extensions") != "") {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	return &rig{peer: p, result: s.results, stop: func() { p.NC.Close(); s.stop() }}
}

// fakeServer listens for our client.
type fakeServer struct {
	t  testing.TB
	ln net.Listener
}

func listen(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeServer{t: t, ln: ln}
}

func (f *fakeServer) url() string { return "ws://" + f.ln.Addr().String() + "/ws" }

// accept takes the next client and reads its request.
func (f *fakeServer) accept() (*peer, *http.Request) {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	nc, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	p := rawpeer.New(f.t, nc, false)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := http.ReadRequest(p.BR)
	if err != nil {
		f.t.Fatal(err)
	}
	return p, r
}

// switching is the 101 response to a request with key, with extra lines.
func switching(key string, extra ...string) string {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + handshake.AcceptKey(key) + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s + "\r\n"
}

func dialRig(t testing.TB, o conn.Options, cfg *deflate.Config, sess session) *rig {
	f := listen(t)
	results := make(chan served, 1)
	go func() {
		c, err := conn.Dial(bg, f.url(), &conn.DialOptions{Options: o, Compression: cfg})
		if err != nil {
			results <- served{err: err}
			return
		}
		results <- sess(c)
	}()
	p, r := f.accept()
	var ext []string
	if cfg != nil {
		if !strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), deflate.ExtensionName) {
			t.Fatalf("client offered %q", r.Header.Get("Sec-WebSocket-Extensions"))
		}
		ext = append(ext, "Sec-WebSocket-Extensions: permessage-deflate")
	}
	p.Write([]byte(switching(r.Header.Get("Sec-WebSocket-Key"), ext...)))
	return &rig{peer: p, result: results, stop: func() { p.NC.Close(); f.ln.Close() }}
}

// allocated returns the bytes the whole process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// deflated is a permessage-deflate payload: p compressed and flushed,
// without the final 00 00 ff ff.
func deflated(t testing.TB, p []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// closeError checks that err is our side's *conn.CloseError with code, local
// or not, wrapping rule if given.
func closeError(t testing.TB, err error, code frame.CloseCode, local bool, rule error) {
	t.Helper()
	ce, ok := errors.AsType[*conn.CloseError](err)
	if !ok || ce.Code != code || ce.Local != local {
		t.Fatalf("our side returned %v, want a *CloseError %d (local %v)", err, code, local)
	}
	if rule != nil && !errors.Is(err, rule) {
		t.Fatalf("our side returned %v (cause %v), want %v", err, ce.Err, rule)
	}
}
