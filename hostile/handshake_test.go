package hostile

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// upgradeRow is a hostile opening request and our server's answer.
type upgradeRow struct {
	name string
	on   []kind // nil: both server kinds
	opts conn.AcceptOptions
	req  func(host string) string
	// status is the response's; field a header field it must carry.
	status int
	field  [2]string
	// rule is what Accept returns; nil with 101.
	rule error
	// netHTTP: behind net/http the request never reaches Accept, since
	// net/http answers it (status) itself.
	netHTTP  bool
	maxAlloc uint64        // bytes the process may allocate meanwhile; 0: not measured
	maxTime  time.Duration // 0: not measured
}

func get(drop []string, extra ...string) func(string) string {
	return func(host string) string { return request(getLine, host, drop, extra...) }
}

func TestUpgrade(t *testing.T) {
	manyLines := func(n int) []string {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = "X-Line-" + strconv.Itoa(i) + ": v"
		}
		return lines
	}
	protocols := make([]string, 100_000)
	for i := range protocols {
		protocols[i] = "p" + strconv.Itoa(i)
	}
	protocols[len(protocols)-1] = "chat"
	key := "Sec-WebSocket-Key"
	rows := []upgradeRow{
		{name: "valid request", req: get(nil), status: 101, field: [2]string{"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
		{name: "no Sec-WebSocket-Key", req: get([]string{key}), status: 400, rule: handshake.ErrKey},
		{name: "key not base64", req: get([]string{key}, key+": !!!!!!!!!!!!!!!!!!!!!!!!"), status: 400, rule: handshake.ErrKey},
		{name: "key of 15 bytes", req: get([]string{key}, key+": AAAAAAAAAAAAAAAAAAAA"), status: 400, rule: handshake.ErrKey},
		{name: "two keys", req: get(nil, key+": "+testKey), status: 400, rule: handshake.ErrKey},
		{
			name: "version 8", req: get([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"),
			status: 426, field: [2]string{"Sec-WebSocket-Version", "13"}, rule: handshake.ErrVersion,
		},
		{
			name: "no version", req: get([]string{"Sec-WebSocket-Version"}),
			status: 426, field: [2]string{"Sec-WebSocket-Version", "13"}, rule: handshake.ErrVersion,
		},
		{
			name:   "POST",
			req:    func(host string) string { return request("POST /ws HTTP/1.1", host, nil, "Content-Length: 0") },
			status: 405, field: [2]string{"Allow", "GET"}, rule: handshake.ErrMethod,
		},
		{
			name:   "HTTP/1.0",
			req:    func(host string) string { return request("GET /ws HTTP/1.0", host, nil) },
			status: 505, rule: handshake.ErrHTTPVersion,
		},
		{name: "no Upgrade", req: get([]string{"Upgrade"}), status: 426, field: [2]string{"Upgrade", "websocket"}, rule: handshake.ErrUpgrade},
		{name: "Upgrade: h2c", req: get([]string{"Upgrade"}, "Upgrade: h2c"), status: 400, rule: handshake.ErrUpgrade},
		{name: "no Connection", req: get([]string{"Connection"}), status: 400, rule: handshake.ErrConnection},
		{name: "Connection: keep-alive", req: get([]string{"Connection"}, "Connection: keep-alive"), status: 400, rule: handshake.ErrConnection},
		{name: "cross-origin", req: get(nil, "Origin: http://evil.example"), status: 403, rule: handshake.ErrOrigin},
		{name: "origin null", req: get(nil, "Origin: null"), status: 403, rule: handshake.ErrOrigin},
		{
			name:   "same origin",
			req:    func(host string) string { return request(getLine, host, nil, "Origin: http://"+host) },
			status: 101,
		},
		{name: "malformed subprotocol list", req: get(nil, "Sec-WebSocket-Protocol: chat proto"), status: 400, rule: handshake.ErrProtocols},
		{
			name: "malformed extension offer", opts: conn.AcceptOptions{Compression: &deflate.Config{}},
			req: get(nil, "Sec-WebSocket-Extensions: permessage-deflate; ;"), status: 400, rule: handshake.ErrExtensions,
		},
		{
			// The server reads no more than its limit of the MiB.
			name: "1 MiB of request headers", opts: conn.AcceptOptions{MaxHeaderBytes: 8 << 10},
			req:    get(nil, "X-Big: "+strings.Repeat("a", 1<<20)),
			status: 431, rule: handshake.ErrHeaderTooLarge, netHTTP: true, maxAlloc: 256 << 10,
		},
		{
			name: "5000 header lines", opts: conn.AcceptOptions{MaxHeaderBytes: 8 << 10},
			req:    get(nil, manyLines(5000)...),
			status: 431, rule: handshake.ErrHeaderTooLarge, netHTTP: true, maxAlloc: 256 << 10,
		},
		{
			name: "10,000 header lines within a raised limit", opts: conn.AcceptOptions{MaxHeaderBytes: 1 << 20},
			req: get(nil, manyLines(10_000)...), status: 101, maxTime: 5 * time.Second,
		},
		{
			// Linear time: a quadratic parse or choice would take minutes.
			name: "100k subprotocols, ours last", opts: conn.AcceptOptions{MaxHeaderBytes: 2 << 20, Subprotocols: []string{"chat"}},
			req:    get(nil, "Sec-WebSocket-Protocol: "+strings.Join(protocols, ", ")),
			status: 101, field: [2]string{"Sec-WebSocket-Protocol", "chat"}, maxTime: 5 * time.Second,
		},
		{
			name: "30k subprotocol header lines", opts: conn.AcceptOptions{MaxHeaderBytes: 2 << 20, Subprotocols: []string{"chat"}},
			req: func(host string) string {
				lines := make([]string, 30_000)
				for i := range lines {
					lines[i] = "Sec-WebSocket-Protocol: " + protocols[len(protocols)-len(lines)+i]
				}
				return request(getLine, host, nil, lines...)
			},
			status: 101, field: [2]string{"Sec-WebSocket-Protocol", "chat"}, maxTime: 5 * time.Second,
		},
		{
			name: "100k empty subprotocol list elements", opts: conn.AcceptOptions{MaxHeaderBytes: 2 << 20},
			req:    get(nil, "Sec-WebSocket-Protocol: chat"+strings.Repeat(",", 100_000)),
			status: 400, rule: handshake.ErrProtocols, maxTime: 5 * time.Second,
		},
		{
			name: "bare LF", on: []kind{viaAcceptConn},
			req:    func(host string) string { return strings.ReplaceAll(request(getLine, host, nil), "\r\n", "\n") },
			status: 400, rule: handshake.ErrMalformed,
		},
		{
			name: "obsolete line folding", on: []kind{viaAcceptConn},
			req: get(nil, "X-Folded: a", " b"), status: 400, rule: handshake.ErrMalformed,
		},
		{name: "two Host fields", req: get(nil, "Host: evil.example"), status: 400, rule: handshake.ErrHost, netHTTP: true},
		{
			// The body is a masked text frame: read as frames, it would be
			// a message an intermediary never saw.
			name: "Content-Length body holding a frame",
			req: func(host string) string {
				return request(getLine, host, nil, "Content-Length: 7") + "\x81\x81\x00\x00\x00\x00a"
			},
			status: 400, rule: handshake.ErrBody,
		},
		{
			name: "chunked body holding a frame",
			req: func(host string) string {
				return request(getLine, host, nil, "Transfer-Encoding: chunked") + "7\r\n\x81\x81\x00\x00\x00\x00a\r\n0\r\n\r\n"
			},
			status: 400, rule: handshake.ErrBody,
		},
		{name: "Content-Length: 0", req: get(nil, "Content-Length: 0"), status: 101},
		{
			name: "HTTP/2.0 request line", on: []kind{viaAcceptConn},
			req:    func(host string) string { return request("GET /ws HTTP/2.0", host, nil) },
			status: 505, rule: handshake.ErrHTTPVersion,
		},
		{
			name: "HTTP/3.7 request line", on: []kind{viaAcceptConn},
			req:    func(host string) string { return request("GET /ws HTTP/3.7", host, nil) },
			status: 505, rule: handshake.ErrHTTPVersion,
		},
		{
			name: "garbage version", on: []kind{viaAcceptConn},
			req:    func(host string) string { return request("GET /ws HTTX/1.1", host, nil) },
			status: 400, rule: handshake.ErrMalformed,
		},
	}
	for _, r := range rows {
		on := r.on
		if on == nil {
			on = servers
		}
		for _, k := range on {
			t.Run(r.name+"/"+string(k), func(t *testing.T) {
				defer leaktest.Check(t)()
				testUpgrade(t, k, r)
			})
		}
	}
}

func testUpgrade(t *testing.T, k kind, r upgradeRow) {
	s := startServer(t, k, &r.opts, echo)
	defer s.stop()
	p := dialPeer(t, s.addr)
	req := []byte(r.req(s.addr))
	written := make(chan struct{})
	defer func() { p.NC.Close(); <-written }()

	var resp *http.Response
	var err error
	start := time.Now()
	n := allocated(func() {
		// The server may answer before it has read it all.
		go func() { p.Write(req); close(written) }()
		p.NC.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err = http.ReadResponse(p.BR, nil)
	})
	d := time.Since(start)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	t.Logf("%s in %v, %d bytes allocated", resp.Status, d, n)
	if resp.StatusCode != r.status {
		t.Fatalf("status %s, want %d", resp.Status, r.status)
	}
	if f := r.field; f[0] != "" && !slices.Contains(resp.Header.Values(f[0]), f[1]) {
		t.Errorf("%s: %q, want %q", f[0], resp.Header.Values(f[0]), f[1])
	}
	if r.maxAlloc > 0 && n > r.maxAlloc {
		t.Errorf("allocated %d bytes, want at most %d", n, r.maxAlloc)
	}
	if r.maxTime > 0 && d > r.maxTime {
		t.Errorf("answered in %v, want at most %v", d, r.maxTime)
	}
	if r.status != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
		if k == viaAccept && r.netHTTP {
			return
		}
		err := outcome(t, s.results).err
		var herr *handshake.Error
		if !errors.As(err, &herr) || herr.Status != r.status || !errors.Is(err, r.rule) {
			t.Fatalf("Accept returned %v, want %v with status %d", err, r.rule, r.status)
		}
		return
	}
	p.Send(true, frame.OpClose, closePayload(1000, ""))
	p.ExpectClose(1000)
	p.ExpectEOF()
	closeError(t, outcome(t, s.results).err, 1000, false, nil)
}

// Frames sent in the same packet as the request are the first messages.
func TestFramesWithRequest(t *testing.T) {
	for _, k := range servers {
		t.Run(string(k), func(t *testing.T) {
			defer leaktest.Check(t)()
			s := startServer(t, k, nil, echo)
			defer s.stop()
			p := dialPeer(t, s.addr)
			defer p.NC.Close()
			b := []byte(request(getLine, s.addr, nil))
			b = append(b, p.Frame(true, 0, frame.OpText, []byte("first"))...)
			b = append(b, p.Frame(false, 0, frame.OpBinary, []byte("sec"))...)
			b = append(b, p.Frame(true, 0, frame.OpPing, []byte("p"))...)
			b = append(b, p.Frame(true, 0, frame.OpContinuation, []byte("ond"))...)
			p.Write(b)
			resp, err := http.ReadResponse(p.BR, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			// The ping is read inside the second message, after the first's echo.
			for _, want := range []string{"first", "p", "second"} {
				_, got, err := p.ReadFrame()
				if err != nil || string(got) != want {
					t.Fatalf("got %q %v, want %q", got, err, want)
				}
			}
			p.Send(true, frame.OpClose, closePayload(1001, ""))
			p.ExpectClose(1001)
			s2 := outcome(t, s.results)
			closeError(t, s2.err, 1001, false, nil)
			if !slices.Equal(s2.msgs, []string{"first", "second"}) {
				t.Fatalf("server read %q", s2.msgs)
			}
		})
	}
}

// A client that sends its request a byte at a time is cut off by
// HandshakeTimeout, without an answer.
func TestSlowloris(t *testing.T) {
	defer leaktest.Check(t)()
	const timeout = 300 * time.Millisecond
	s := startServer(t, viaAcceptConn, &conn.AcceptOptions{HandshakeTimeout: timeout}, echo)
	defer s.stop()
	start := time.Now() // before the server's clock starts
	p := dialPeer(t, s.addr)
	defer p.NC.Close()
	req := request(getLine, s.addr, nil)
	go func() {
		for i := 0; ; i = (i + 1) % len(req) {
			if _, err := p.NC.Write([]byte{req[i]}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	p.ExpectEOF()
	d := time.Since(start)
	if d < timeout || d > 4*time.Second { // handshake.DefaultTimeout is 10 s
		t.Errorf("cut off after %v, want %v", d, timeout)
	}
	if err := outcome(t, s.results).err; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("AcceptConn: %v, want a deadline error", err)
	}
}

// dialRow is a hostile server's answer to our client.
type dialRow struct {
	name     string
	opts     conn.DialOptions
	respond  func(key string) string
	rule     error
	status   int    // of the *handshake.Error
	maxAlloc uint64 // 0: not measured
}

func TestDialHandshake(t *testing.T) {
	rows := []dialRow{
		{
			name:    "403 Forbidden",
			respond: func(string) string { return "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n" },
			rule:    handshake.ErrStatus, status: 403,
		},
		{
			name:    "200 OK",
			respond: func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
			rule:    handshake.ErrStatus, status: 200,
		},
		{
			name:    "garbage status line",
			respond: func(string) string { return "SSH-2.0-OpenSSH_9.6\r\n\r\n" },
			rule:    handshake.ErrMalformed,
		},
		{
			name: "101 without Upgrade",
			respond: func(key string) string {
				return strings.Replace(switching(key), "Upgrade: websocket\r\n", "", 1)
			},
			rule: handshake.ErrUpgradeResponse,
		},
		{
			name:    "wrong accept key",
			respond: func(string) string { return switching(testKey) },
			rule:    handshake.ErrAccept,
		},
		{
			name:    "unoffered subprotocol",
			opts:    conn.DialOptions{Subprotocols: []string{"chat"}},
			respond: func(key string) string { return switching(key, "Sec-WebSocket-Protocol: superchat") },
			rule:    handshake.ErrProtocolNotOffered,
		},
		{
			name:    "subprotocol when none was offered",
			respond: func(key string) string { return switching(key, "Sec-WebSocket-Protocol: chat") },
			rule:    handshake.ErrProtocolNotOffered,
		},
		{
			name:    "unoffered extension",
			opts:    conn.DialOptions{Compression: &deflate.Config{}},
			respond: func(key string) string { return switching(key, "Sec-WebSocket-Extensions: x-webkit-deflate-frame") },
			rule:    handshake.ErrExtensionNotOffered,
		},
		{
			name:    "permessage-deflate not offered",
			respond: func(key string) string { return switching(key, "Sec-WebSocket-Extensions: permessage-deflate") },
			rule:    handshake.ErrExtensionNotOffered,
		},
		{
			name: "permessage-deflate with a bad window",
			opts: conn.DialOptions{Compression: &deflate.Config{}},
			respond: func(key string) string {
				return switching(key, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99")
			},
			rule: handshake.ErrExtensionCheck,
		},
		{
			name:    "1 MiB response head",
			respond: func(key string) string { return switching(key, "X-Big: "+strings.Repeat("a", 1<<20)) },
			rule:    handshake.ErrHeaderTooLarge, maxAlloc: 256 << 10,
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			f := listen(t)
			defer f.ln.Close()
			errc := make(chan error, 1)
			go func() {
				c, err := conn.Dial(bg, f.url(), &r.opts)
				if err == nil {
					c.Close(conn.CloseNormal, "")
				}
				errc <- err
			}()
			p, req := f.accept()
			defer p.NC.Close()
			resp := []byte(r.respond(req.Header.Get("Sec-WebSocket-Key")))
			var err error
			n := allocated(func() {
				go p.Write(resp) // ended by the client's hanging up
				err = <-errc
			})
			var herr *handshake.Error
			if !errors.As(err, &herr) || herr.Status != r.status || !errors.Is(err, r.rule) {
				t.Fatalf("Dial: %v, want %v (status %d)", err, r.rule, r.status)
			}
			if r.maxAlloc > 0 && n > r.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", n, r.maxAlloc)
			}
			p.ExpectEOF()
		})
	}
}

// A server that never answers is bounded by Dial's context.
func TestDialSilentServer(t *testing.T) {
	defer leaktest.Check(t)()
	f := listen(t)
	defer f.ln.Close()
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		defer cancel()
		_, err := conn.Dial(ctx, f.url(), nil)
		errc <- err
	}()
	p, _ := f.accept()
	defer p.NC.Close()
	p.ExpectEOF()
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial returned after %v", d)
	}
}

// earlyConn fires every deadline a little early, as the network poller may
// when it races the context's own timer.
type earlyConn struct{ net.Conn }

func (c earlyConn) SetDeadline(t time.Time) error {
	if time.Until(t) > 0 {
		t = t.Add(-50 * time.Millisecond)
	}
	return c.Conn.SetDeadline(t)
}

// When Dial's context ends the handshake, the error says so.
func TestDialDeadlineReported(t *testing.T) {
	defer leaktest.Check(t)()
	f := listen(t)
	defer f.ln.Close()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		defer cancel()
		_, err := conn.Dial(ctx, f.url(), &conn.DialOptions{
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				return earlyConn{nc}, err
			},
		})
		errc <- err
	}()
	p, _ := f.accept()
	defer p.NC.Close()
	p.ExpectEOF()
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want context.DeadlineExceeded", err)
	}
}

// Frames sent in the same packet as the 101 response are the first
// messages.
func TestFramesWithResponse(t *testing.T) {
	defer leaktest.Check(t)()
	f := listen(t)
	defer f.ln.Close()
	type result struct {
		msgs []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := conn.Dial(bg, f.url(), nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		var res result
		for {
			_, msg, err := c.ReadMessage(bg, nil)
			if err != nil {
				res.err = err
				break
			}
			res.msgs = append(res.msgs, string(msg))
		}
		done <- res
	}()
	p, req := f.accept()
	defer p.NC.Close()
	b := []byte(switching(req.Header.Get("Sec-WebSocket-Key")))
	b = append(b, p.Frame(true, 0, frame.OpText, []byte("first"))...)
	b = append(b, p.Frame(true, 0, frame.OpBinary, []byte("second"))...)
	b = append(b, p.Frame(true, 0, frame.OpClose, closePayload(1000, "bye"))...)
	p.Write(b)
	p.ExpectClose(1000)
	p.NC.Close() // the server closes TCP first
	res := <-done
	if !slices.Equal(res.msgs, []string{"first", "second"}) {
		t.Fatalf("client read %q", res.msgs)
	}
	closeError(t, res.err, 1000, false, nil)
}
