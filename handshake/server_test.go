package handshake

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/internal/leaktest"
)

// sampleKey and sampleAccept are the example of RFC 6455 section 1.3.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

var goodLines = []string{
	"GET /chat?x=1 HTTP/1.1",
	"Host: example.com",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Key: " + sampleKey,
	"Sec-WebSocket-Version: 13",
}

// request returns a request head: the good lines but those starting with
// drop, then add.
func request(drop string, add ...string) string {
	var b strings.Builder
	for _, l := range goodLines {
		if drop == "" || !strings.HasPrefix(l, drop) {
			b.WriteString(l + "\r\n")
		}
	}
	for _, l := range add {
		b.WriteString(l + "\r\n")
	}
	return b.String() + "\r\n"
}

// requestLine returns the good request with another request line.
func requestLine(line string) string {
	return line + "\r\n" + strings.SplitN(request(""), "\r\n", 2)[1]
}

type outcome struct {
	res Result
	err error
}

// transports run the server side on the three ways in.
var transports = []struct {
	name string
	raw  bool
	run  func(t *testing.T, opts *ServerOptions, send func(c net.Conn)) (*http.Response, outcome)
}{
	{"net/http", false, serveHTTP},
	{"pipe", true, servePipe},
	{"tcp", true, serveTCP},
}

// serveHTTP answers through an httptest server calling Upgrade; send writes
// the request from a raw TCP client.
func serveHTTP(t *testing.T, opts *ServerOptions, send func(c net.Conn)) (*http.Response, outcome) {
	ch := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, res, err := Upgrade(w, r, opts)
		if err == nil {
			nc.Close()
		}
		ch <- outcome{res, err}
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return exchange(t, c, send, ch, nil)
}

func servePipe(t *testing.T, opts *ServerOptions, send func(c net.Conn)) (*http.Response, outcome) {
	s, c := net.Pipe()
	defer c.Close()
	defer s.Close()
	ch := make(chan outcome, 1)
	go func() {
		res, err := UpgradeConn(s, opts)
		ch <- outcome{res, err}
	}()
	return exchange(t, c, send, ch, s)
}

func serveTCP(t *testing.T, opts *ServerOptions, send func(c net.Conn)) (*http.Response, outcome) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan outcome, 1)
	sc := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			ch <- outcome{err: err}
			return
		}
		sc <- s
		res, err := UpgradeConn(s, opts)
		ch <- outcome{res, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-sc
	defer s.Close()
	return exchange(t, c, send, ch, s)
}

// exchange sends the request from c while reading the response, and waits
// for the server's outcome. The server's conn s is closed only after the
// response is read, so that an unread request cannot reset it first, or
// when the server failed without answering.
func exchange(t *testing.T, c net.Conn, send func(c net.Conn), ch chan outcome, s net.Conn) (*http.Response, outcome) {
	t.Helper()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		send(c)
	}()
	read := make(chan *http.Response, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
		if err == nil {
			resp.Body.Close()
		}
		read <- resp
	}()
	var o outcome
	select {
	case o = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no outcome from the server")
	}
	var herr *Error
	if o.err != nil && !errors.As(o.err, &herr) {
		s.Close()
	}
	resp := <-read
	c.Close()
	if s != nil {
		s.Close()
	}
	<-sent
	return resp, o
}

func write(req string) func(c net.Conn) {
	return func(c net.Conn) { c.Write([]byte(req)) }
}

func TestServerRules(t *testing.T) {
	tests := []struct {
		name   string
		req    string
		opts   *ServerOptions
		status int
		rule   error
		fields map[string]string
		raw    bool // net/http answers it before the handler runs
	}{
		{name: "good", req: request(""), status: 101},
		{name: "POST", req: requestLine("POST /chat HTTP/1.1"), status: 405, rule: ErrMethod, fields: map[string]string{"Allow": "GET"}},
		{name: "HTTP/1.0", req: requestLine("GET /chat HTTP/1.0"), status: 505, rule: ErrHTTPVersion},
		{name: "no Host", req: request("Host"), status: 400, rule: ErrHost, raw: true},
		{name: "two Hosts", req: request("", "Host: example.org"), status: 400, rule: ErrHost, raw: true},
		{name: "bad Host", req: request("Host", "Host: a b"), status: 400, rule: ErrHost, raw: true},
		{name: "no Upgrade", req: request("Upgrade"), status: 426, rule: ErrUpgrade,
			fields: map[string]string{"Upgrade": "websocket"}},
		{name: "Upgrade h2c", req: request("Upgrade", "Upgrade: h2c"), status: 400, rule: ErrUpgrade},
		{name: "Upgrade in a list on a second line", req: request("Upgrade", "Upgrade: h2c", "Upgrade: foo, WebSocket"), status: 101},
		{name: "no Connection", req: request("Connection"), status: 400, rule: ErrConnection},
		{name: "Connection keep-alive", req: request("Connection", "Connection: keep-alive"), status: 400, rule: ErrConnection},
		{name: "Connection in a list", req: request("Connection", "Connection: keep-alive, UPGRADE"), status: 101},
		{name: "Connection on two lines", req: request("Connection", "Connection: keep-alive", "Connection: upgrade"), status: 101},
		{name: "no version", req: request("Sec-WebSocket-Version"), status: 426, rule: ErrVersion,
			fields: map[string]string{"Sec-Websocket-Version": "13"}},
		{name: "version 8", req: request("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), status: 426, rule: ErrVersion,
			fields: map[string]string{"Sec-Websocket-Version": "13"}},
		{name: "two versions", req: request("", "Sec-WebSocket-Version: 13"), status: 426, rule: ErrVersion},
		{name: "no key", req: request("Sec-WebSocket-Key"), status: 400, rule: ErrKey},
		{name: "short key", req: request("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="), status: 400, rule: ErrKey},
		{name: "key not base64", req: request("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q=="), status: 400, rule: ErrKey},
		{name: "two keys", req: request("", "Sec-WebSocket-Key: "+sampleKey), status: 400, rule: ErrKey},
		{name: "cross origin", req: request("", "Origin: https://evil.example"), status: 403, rule: ErrOrigin},
		{name: "same origin", req: request("", "Origin: https://example.com"), status: 101},
		{name: "bad protocols", req: request("", "Sec-WebSocket-Protocol: a b"), status: 400, rule: ErrProtocols},
		{name: "bad extensions", req: request("", `Sec-WebSocket-Extensions: x; a="1`), status: 400, rule: ErrExtensions},
		{name: "empty extensions", req: request("", "Sec-WebSocket-Extensions: ", "Sec-WebSocket-Protocol: ,"), status: 101},
		{name: "extension callback error", req: request("", "Sec-WebSocket-Extensions: x"), status: 400, rule: ErrExtensions,
			opts: &ServerOptions{Extensions: func([]Extension) ([]Extension, error) { return nil, errors.New("bad x") }}},
		{name: "extension callback returns garbage", req: request("", "Sec-WebSocket-Extensions: x"), status: 500, rule: ErrExtensions,
			opts: &ServerOptions{Extensions: func([]Extension) ([]Extension, error) { return []Extension{{Name: "x\r\ny"}}, nil }}},
		{name: "reserved extra header", req: request(""), status: 500, rule: ErrHeader,
			opts: &ServerOptions{Header: http.Header{"Sec-WebSocket-Accept": {"x"}}}},
		{name: "injected extra header", req: request(""), status: 500, rule: ErrHeader,
			opts: &ServerOptions{Header: http.Header{"X": {"a\r\nY: b"}}}},

		{name: "bare LF", req: strings.ReplaceAll(request(""), "\r\n", "\n"), status: 400, rule: ErrMalformed, raw: true},
		{name: "obs-fold", req: request("", "X: a", " b"), status: 400, rule: ErrMalformed, raw: true},
		{name: "space before colon", req: request("", "X : a"), status: 400, rule: ErrMalformed, raw: true},
		{name: "no colon", req: request("", "X"), status: 400, rule: ErrMalformed, raw: true},
		{name: "NUL in value", req: request("", "X: a\x00b"), status: 400, rule: ErrMalformed, raw: true},
		{name: "empty line first", req: "\r\n" + request(""), status: 400, rule: ErrMalformed, raw: true},
		{name: "two spaces in request line", req: requestLine("GET  /chat HTTP/1.1"), status: 400, rule: ErrMalformed, raw: true},
		{name: "no version in request line", req: requestLine("GET /chat"), status: 400, rule: ErrMalformed, raw: true},
		{name: "bad version", req: requestLine("GET /chat HTTP/1.10"), status: 400, rule: ErrMalformed, raw: true},
		{name: "relative target", req: requestLine("GET chat HTTP/1.1"), status: 400, rule: ErrMalformed, raw: true},
		{name: "too large", req: request("", "X: "+strings.Repeat("a", DefaultMaxHeaderBytes)), status: 431, rule: ErrHeaderTooLarge, raw: true},
		{name: "too large for option", req: request("", "X: "+strings.Repeat("a", 100)), status: 431, rule: ErrHeaderTooLarge, raw: true,
			opts: &ServerOptions{MaxHeaderBytes: 200}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			if tt.raw && !tr.raw {
				continue
			}
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				defer leaktest.Check(t)()
				resp, o := tr.run(t, tt.opts, write(tt.req))
				if resp == nil {
					t.Fatalf("no response; server: %v", o.err)
				}
				if resp.StatusCode != tt.status {
					t.Errorf("status %q, want %d", resp.Status, tt.status)
				}
				for k, v := range tt.fields {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				if tt.rule == nil {
					if o.err != nil {
						t.Fatalf("server: %v", o.err)
					}
					return
				}
				var herr *Error
				if !errors.Is(o.err, tt.rule) || !errors.As(o.err, &herr) || herr.Status != tt.status {
					t.Fatalf("server error %v, want %v with status %d", o.err, tt.rule, tt.status)
				}
			})
		}
	}
}

// TestServerResponse checks the exact bytes of a 101 response.
func TestServerResponse(t *testing.T) {
	defer leaktest.Check(t)()
	opts := &ServerOptions{
		Subprotocols: []string{"chat"},
		Extensions: func(offers []Extension) ([]Extension, error) {
			return []Extension{{Name: offers[0].Name, Params: []Param{{"server_no_context_takeover", ""}}}}, nil
		},
		Header: http.Header{"X-Served-By": {"test"}},
	}
	req := request("", "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	s, c := net.Pipe()
	defer s.Close()
	defer c.Close()
	go c.Write([]byte(req))
	ch := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(c)
		ch <- b
	}()
	if _, err := UpgradeConn(s, opts); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + sampleAccept + "\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n" +
		"X-Served-By: test\r\n" +
		"\r\n"
	if got := string(<-ch); got != want {
		t.Fatalf("response\n%q\nwant\n%q", got, want)
	}
}

func TestServerAgreement(t *testing.T) {
	deflate := func(offers []Extension) ([]Extension, error) {
		for _, o := range offers {
			if o.Name == "permessage-deflate" {
				return []Extension{o}, nil
			}
		}
		return nil, nil
	}
	tests := []struct {
		name     string
		add      []string
		opts     *ServerOptions
		protocol string
		exts     []Extension
		header   string // expected Sec-WebSocket-Extensions
	}{
		{name: "no offers", opts: &ServerOptions{Subprotocols: []string{"a"}, Extensions: deflate}},
		{name: "server preference", add: []string{"Sec-WebSocket-Protocol: a, b", "Sec-WebSocket-Protocol: c"},
			opts: &ServerOptions{Subprotocols: []string{"c", "b"}}, protocol: "c"},
		{name: "no common protocol", add: []string{"Sec-WebSocket-Protocol: a, b"},
			opts: &ServerOptions{Subprotocols: []string{"d"}}},
		{name: "protocols not supported", add: []string{"Sec-WebSocket-Protocol: a"}},
		{name: "extensions declined by default", add: []string{"Sec-WebSocket-Extensions: permessage-deflate"}},
		{name: "extension accepted", add: []string{"Sec-WebSocket-Extensions: x-foo, permessage-deflate; client_max_window_bits=\"10\""},
			opts:   &ServerOptions{Extensions: deflate},
			exts:   []Extension{{"permessage-deflate", []Param{{"client_max_window_bits", "10"}}}},
			header: "permessage-deflate; client_max_window_bits=10"},
		{name: "extension declined", add: []string{"Sec-WebSocket-Extensions: x-foo"}, opts: &ServerOptions{Extensions: deflate}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				defer leaktest.Check(t)()
				resp, o := tr.run(t, tt.opts, write(request("", tt.add...)))
				if o.err != nil || resp == nil || resp.StatusCode != 101 {
					t.Fatalf("server error %v, response %v", o.err, resp)
				}
				if o.res.Subprotocol != tt.protocol || resp.Header.Get("Sec-WebSocket-Protocol") != tt.protocol {
					t.Errorf("subprotocol %q, header %q; want %q", o.res.Subprotocol, resp.Header["Sec-Websocket-Protocol"], tt.protocol)
				}
				if _, ok := resp.Header["Sec-Websocket-Protocol"]; ok != (tt.protocol != "") {
					t.Errorf("Sec-WebSocket-Protocol present: %v", ok)
				}
				if !reflect.DeepEqual(o.res.Extensions, tt.exts) {
					t.Errorf("extensions %+v, want %+v", o.res.Extensions, tt.exts)
				}
				if got := resp.Header["Sec-Websocket-Extensions"]; tt.header == "" && got != nil || tt.header != "" && !reflect.DeepEqual(got, []string{tt.header}) {
					t.Errorf("Sec-WebSocket-Extensions %q, want %q", got, tt.header)
				}
				if resp.Header.Get("Sec-WebSocket-Accept") != sampleAccept || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
					t.Errorf("response header %v", resp.Header)
				}
				r := o.res.Request
				if r == nil || r.Method != "GET" || r.URL.Path != "/chat" || r.URL.RawQuery != "x=1" || r.Host != "example.com" ||
					r.RemoteAddr == "" || r.Header.Get("Sec-WebSocket-Key") != sampleKey {
					t.Errorf("request %+v", r)
				}
			})
		}
	}
}

func TestServerOrigin(t *testing.T) {
	tests := []struct {
		name   string
		origin []string
		opts   *ServerOptions
		ok     bool
	}{
		{name: "no Origin", ok: true},
		{name: "same origin", origin: []string{"https://example.com"}, ok: true},
		{name: "same origin, case", origin: []string{"HTTPS://Example.COM"}, ok: true},
		{name: "other port", origin: []string{"https://example.com:8080"}},
		{name: "cross origin", origin: []string{"https://evil.example"}},
		{name: "suffix is not same origin", origin: []string{"https://notexample.com"}},
		{name: "null", origin: []string{"null"}},
		{name: "with a path", origin: []string{"https://example.com/x"}},
		{name: "two Origins", origin: []string{"https://example.com", "https://example.com"}},
		{name: "pattern", origin: []string{"https://a.Trusted.example"}, opts: &ServerOptions{OriginPatterns: []string{"*.trusted.example"}}, ok: true},
		{name: "pattern with port", origin: []string{"http://trusted.example:8080"}, opts: &ServerOptions{OriginPatterns: []string{"trusted.example:8080"}}, ok: true},
		{name: "pattern misses", origin: []string{"https://trusted.example"}, opts: &ServerOptions{OriginPatterns: []string{"*.trusted.example"}}},
		{name: "custom allows", origin: []string{"https://evil.example"},
			opts: &ServerOptions{CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://evil.example" }}, ok: true},
		{name: "custom refuses", origin: nil, opts: &ServerOptions{CheckOrigin: func(*http.Request) bool { return false }}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				defer leaktest.Check(t)()
				var add []string
				for _, o := range tt.origin {
					add = append(add, "Origin: "+o)
				}
				resp, o := tr.run(t, tt.opts, write(request("", add...)))
				want := http.StatusForbidden
				if tt.ok {
					want = http.StatusSwitchingProtocols
				}
				if resp == nil || resp.StatusCode != want {
					t.Fatalf("response %v, want %d", resp, want)
				}
				if !tt.ok && !errors.Is(o.err, ErrOrigin) {
					t.Fatalf("server error %v, want ErrOrigin", o.err)
				}
			})
		}
	}
}

func TestServerBuffered(t *testing.T) {
	frames := "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58" // a masked "Hello"
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			_, o := tr.run(t, nil, write(request("")+frames))
			if o.err != nil {
				t.Fatal(o.err)
			}
			if string(o.res.Buffered) != frames {
				t.Fatalf("Buffered %q, want %q", o.res.Buffered, frames)
			}
		})
	}
}

// TestServerSlowloris dribbles a request one byte at a time: the Timeout
// bounds the whole handshake, not each read.
func TestServerSlowloris(t *testing.T) {
	for _, tr := range transports[1:] {
		t.Run(tr.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			req := request("")
			start := time.Now()
			_, o := tr.run(t, &ServerOptions{Timeout: 150 * time.Millisecond}, func(c net.Conn) {
				for i := range len(req) {
					if _, err := c.Write([]byte{req[i]}); err != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
			if !errors.Is(o.err, os.ErrDeadlineExceeded) {
				t.Fatalf("server error %v, want a deadline error", o.err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestServerHugeHeader sends 1 MiB of header fields: answered 431 after
// reading no more than MaxHeaderBytes.
func TestServerHugeHeader(t *testing.T) {
	for _, tr := range transports[1:] {
		t.Run(tr.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			head := request("")
			head = head[:len(head)-2] + strings.Repeat("X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 1<<20/80) + "\r\n"
			start := time.Now()
			resp, o := tr.run(t, nil, write(head))
			if resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !errors.Is(o.err, ErrHeaderTooLarge) {
				t.Fatalf("response %v, server error %v", resp, o.err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestServerManyFields accepts thousands of header lines when the bound
// allows them.
func TestServerManyFields(t *testing.T) {
	defer leaktest.Check(t)()
	var add []string
	for range 20000 {
		add = append(add, "X-A: b")
	}
	add = append(add, "Cookie: a=1")
	resp, o := servePipe(t, &ServerOptions{MaxHeaderBytes: 1 << 20}, write(request("", add...)))
	if resp == nil || resp.StatusCode != 101 || o.err != nil {
		t.Fatalf("response %v, server error %v", resp, o.err)
	}
	if n := len(o.res.Request.Header["X-A"]); n != 20000 {
		t.Fatalf("%d X-A values", n)
	}
}

// TestServerClearsDeadline checks the connection outlives Timeout.
func TestServerClearsDeadline(t *testing.T) {
	defer leaktest.Check(t)()
	s, c := net.Pipe()
	defer s.Close()
	defer c.Close()
	go func() {
		c.Write([]byte(request("")))
		http.ReadResponse(bufio.NewReader(c), nil)
		time.Sleep(100 * time.Millisecond)
		c.Write([]byte("x"))
	}()
	if _, err := UpgradeConn(s, &ServerOptions{Timeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := s.Read(b[:]); err != nil {
		t.Fatal(err)
	}
}

// TestParseOriginForm holds the allocation-free parse of common targets to
// url.ParseRequestURI: where it answers, it answers the same.
func TestParseOriginForm(t *testing.T) {
	for _, target := range []string{
		"/", "/chat", "/chat?x=1", "/chat?", "/a/b/c;p=1,2@x:y$&+=", "/a?b?c", "/a?%zz", "/?",
		"/a%20b", "/a%2Fb", "/a!b", "/a*b", "/a'b", "/a(b)", "/[x]", "/a\"b", "/a{b}", "//evil/x", "///x",
		"/a#frag", "*", "http://example.com/x", "example.com:443", "/a|b", "/~user/_x-y.z",
	} {
		var got url.URL
		ok := parseOriginForm(target, &got)
		want, err := url.ParseRequestURI(target)
		if !ok {
			continue // url.ParseRequestURI decides
		}
		if err != nil {
			t.Errorf("%q: parsed, url.ParseRequestURI refuses it: %v", target, err)
			continue
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("%q: %#v, url.ParseRequestURI %#v", target, got, *want)
		}
	}
	for _, target := range []string{"/chat", "/chat?x=1", "/a/b;c@d"} {
		if !parseOriginForm(target, new(url.URL)) {
			t.Errorf("%q: not taken by the fast path", target)
		}
	}
}

// TestUpgradeConnAllocs keeps the server's handshake lean: a browser's
// request in 6 allocations (the header map takes 4 of them), where it took
// 15.
func TestUpgradeConnAllocs(t *testing.T) {
	c := &memConn{}
	opts := &ServerOptions{Subprotocols: []string{"chat"}}
	allocs := testing.AllocsPerRun(100, func() {
		c.in.Reset(browserRequest)
		if _, err := UpgradeConn(c, opts); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 6 {
		t.Errorf("UpgradeConn: %v allocations a handshake, want at most 6", allocs)
	}
}
