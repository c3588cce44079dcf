package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/internal/leaktest"
)

// fakeServer answers each connection with respond(key) after reading its
// request, which it passes on reqs, then waits for the client to close
// unless hangUp. An empty answer is no answer. stop closes it and waits for
// its goroutines.
func fakeServer(t *testing.T, respond func(key string) string, hangUp bool) (url string, reqs chan *http.Request, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reqs = make(chan *http.Request, 8)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				reqs <- r
				if resp := respond(r.Header.Get("Sec-WebSocket-Key")); resp != "" {
					c.Write([]byte(resp))
				}
				if !hangUp {
					io.Copy(io.Discard, br)
				}
			})
		}
	})
	return "ws://" + ln.Addr().String(), reqs, func() {
		ln.Close()
		wg.Wait()
	}
}

// response returns a 101 answer to key with the good fields but those
// starting with drop, then add.
func response(drop string, add ...string) func(key string) string {
	return func(key string) string {
		lines := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + AcceptKey(key)}
		var b strings.Builder
		b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
		for _, l := range lines {
			if drop == "" || !strings.HasPrefix(l, drop) {
				b.WriteString(l + "\r\n")
			}
		}
		for _, l := range add {
			b.WriteString(l + "\r\n")
		}
		return b.String() + "\r\n"
	}
}

func canned(s string) func(string) string { return func(string) string { return s } }

func TestClientResponses(t *testing.T) {
	deflate := []Extension{{"permessage-deflate", []Param{{"client_max_window_bits", ""}}}}
	errCheck := errors.New("window too large")
	tests := []struct {
		name    string
		respond func(key string) string
		opts    DialOptions
		rule    error
		status  int
		want    Result
		hangUp  bool
	}{
		{name: "good", respond: response("")},
		{name: "lower-case tokens on several lines", respond: response("Connection", "Connection: keep-alive", "Connection: upgrade")},
		{name: "403", respond: canned("HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n"), rule: ErrStatus, status: 403},
		{name: "200", respond: canned("HTTP/1.1 200 OK\r\n\r\n"), rule: ErrStatus, status: 200},
		{name: "426 without reason", respond: canned("HTTP/1.1 426\r\nSec-WebSocket-Version: 13\r\n\r\n"), rule: ErrStatus, status: 426},
		{name: "wrong accept", respond: response("Sec-WebSocket-Accept", "Sec-WebSocket-Accept: "+sampleAccept), rule: ErrAccept},
		{name: "no accept", respond: response("Sec-WebSocket-Accept"), rule: ErrAccept},
		{name: "two accepts", respond: func(key string) string {
			return response("", "Sec-WebSocket-Accept: "+AcceptKey(key))(key)
		}, rule: ErrAccept},
		{name: "no Upgrade", respond: response("Upgrade"), rule: ErrUpgradeResponse},
		{name: "Upgrade h2c", respond: response("Upgrade", "Upgrade: h2c"), rule: ErrUpgradeResponse},
		{name: "no Connection", respond: response("Connection"), rule: ErrConnectionResponse},
		{name: "subprotocol", respond: response("", "Sec-WebSocket-Protocol: b"), opts: DialOptions{Subprotocols: []string{"a", "b"}},
			want: Result{Subprotocol: "b"}},
		{name: "subprotocol not offered", respond: response("", "Sec-WebSocket-Protocol: c"), opts: DialOptions{Subprotocols: []string{"a", "b"}},
			rule: ErrProtocolNotOffered},
		{name: "subprotocol none offered", respond: response("", "Sec-WebSocket-Protocol: a"), rule: ErrProtocolNotOffered},
		{name: "two subprotocols", respond: response("", "Sec-WebSocket-Protocol: a, b"), opts: DialOptions{Subprotocols: []string{"a", "b"}},
			rule: ErrProtocolNotOffered},
		{name: "subprotocol twice", respond: response("", "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: a"),
			opts: DialOptions{Subprotocols: []string{"a"}}, rule: ErrProtocolNotOffered},
		{name: "extension", respond: response("", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"),
			opts: DialOptions{Extensions: deflate},
			want: Result{Extensions: []Extension{{"permessage-deflate", []Param{{"client_max_window_bits", "10"}}}}}},
		{name: "extension not offered", respond: response("", "Sec-WebSocket-Extensions: x-foo"), opts: DialOptions{Extensions: deflate},
			rule: ErrExtensionNotOffered},
		{name: "extension none offered", respond: response("", "Sec-WebSocket-Extensions: permessage-deflate"), rule: ErrExtensionNotOffered},
		{name: "malformed extensions", respond: response("", "Sec-WebSocket-Extensions: permessage-deflate;"), opts: DialOptions{Extensions: deflate},
			rule: ErrExtensions},
		{name: "CheckExtensions refuses", respond: response("", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15"),
			opts: DialOptions{Extensions: deflate, CheckExtensions: func([]Extension) error { return errCheck }}, rule: errCheck},
		{name: "CheckExtensions sees none", respond: response(""),
			opts: DialOptions{Extensions: deflate, CheckExtensions: func(a []Extension) error {
				if a != nil {
					return errCheck
				}
				return nil
			}}},
		{name: "frames after the response", respond: func(key string) string { return response("")(key) + "\x81\x02hi" },
			want: Result{Buffered: []byte("\x81\x02hi")}},
		{name: "bare LF", respond: func(key string) string { return strings.ReplaceAll(response("")(key), "\r\n", "\n") }, rule: ErrMalformed},
		{name: "bad status line", respond: canned("HTTP/1.1 1O1 Switching\r\n\r\n"), rule: ErrMalformed},
		{name: "not HTTP", respond: canned("SSH-2.0-OpenSSH\r\n\r\n"), rule: ErrMalformed},
		{name: "obs-fold", respond: response("", "X: a", " b"), rule: ErrMalformed},
		{name: "too large", respond: response("", "X: "+strings.Repeat("a", 200)), opts: DialOptions{MaxHeaderBytes: 200}, rule: ErrHeaderTooLarge},
		{name: "cut short", respond: canned("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"), hangUp: true, rule: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			url, _, stop := fakeServer(t, tt.respond, tt.hangUp)
			defer stop()
			nc, res, err := Dial(context.Background(), url, &tt.opts)
			if err == nil {
				nc.Close() // else stop waits for it
			}
			if tt.rule == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res, tt.want) {
					t.Fatalf("result %+v, want %+v", res, tt.want)
				}
				return
			}
			var herr *Error
			if !errors.Is(err, tt.rule) {
				t.Fatalf("error %v, want %v", err, tt.rule)
			}
			if errors.As(err, &herr) && herr.Status != tt.status {
				t.Fatalf("status %d, want %d", herr.Status, tt.status)
			}
		})
	}
}

func TestClientRequest(t *testing.T) {
	defer leaktest.Check(t)()
	url, reqs, stop := fakeServer(t, response("", "Sec-WebSocket-Protocol: b"), false)
	defer stop()
	opts := &DialOptions{
		Header:       http.Header{"Origin": {"https://example.com"}, "Authorization": {"Bearer x"}},
		Subprotocols: []string{"a", "b"},
		Extensions:   []Extension{{"permessage-deflate", []Param{{"client_max_window_bits", ""}}}, {Name: "x-foo"}},
	}
	nc, _, err := Dial(context.Background(), url+"/chat?room=1", opts)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	r := <-reqs
	want := map[string]string{
		"Upgrade":                  "websocket",
		"Connection":               "Upgrade",
		"Sec-Websocket-Version":    "13",
		"Sec-Websocket-Protocol":   "a, b",
		"Sec-Websocket-Extensions": "permessage-deflate; client_max_window_bits, x-foo",
		"Origin":                   "https://example.com",
		"Authorization":            "Bearer x",
	}
	for k, v := range want {
		if got := r.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if r.Method != "GET" || r.RequestURI != "/chat?room=1" || r.Proto != "HTTP/1.1" || "ws://"+r.Host != url || !validKey(r.Header.Get("Sec-WebSocket-Key")) {
		t.Errorf("request %s %s %s, Host %q, key %q", r.Method, r.RequestURI, r.Proto, r.Host, r.Header.Get("Sec-WebSocket-Key"))
	}
}

func TestClientOptions(t *testing.T) {
	tests := []struct {
		name string
		opts DialOptions
		rule error
	}{
		{"bad subprotocol", DialOptions{Subprotocols: []string{"a b"}}, ErrProtocols},
		{"bad extension", DialOptions{Extensions: []Extension{{Name: "x", Params: []Param{{"a", "b c"}}}}}, ErrExtensions},
		{"reserved header", DialOptions{Header: http.Header{"Sec-WebSocket-Key": {sampleKey}}}, ErrHeader},
		{"lower-case reserved header", DialOptions{Header: http.Header{"upgrade": {"x"}}}, ErrHeader},
		{"header injection", DialOptions{Header: http.Header{"X": {"a\r\nHost: b"}}}, ErrHeader},
		{"bad header name", DialOptions{Header: http.Header{"X Y": {"a"}}}, ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			s, c := net.Pipe()
			defer s.Close()
			defer c.Close()
			_, err := Client(context.Background(), c, "ws://example.com/", &tt.opts)
			if !errors.Is(err, tt.rule) {
				t.Fatalf("error %v, want %v", err, tt.rule)
			}
		})
	}
}

func TestClientHostOverride(t *testing.T) {
	defer leaktest.Check(t)()
	url, reqs, stop := fakeServer(t, response(""), false)
	defer stop()
	nc, _, err := Dial(context.Background(), url, &DialOptions{Header: http.Header{"Host": {"example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if r := <-reqs; r.Host != "example.com" || r.RequestURI != "/" {
		t.Fatalf("Host %q, target %q", r.Host, r.RequestURI)
	}
}

func TestDialAddress(t *testing.T) {
	tests := []struct {
		url, addr string
	}{
		{"ws://example.com", "example.com:80"},
		{"wss://example.com/x?y=1", "example.com:443"},
		{"ws://example.com:8080/", "example.com:8080"},
		{"ws://[::1]/", "[::1]:80"},
		{"wss://[fe80::1%25eth0]:9000/", "[fe80::1%eth0]:9000"},
	}
	errStop := errors.New("stop")
	for _, tt := range tests {
		var got string
		opts := &DialOptions{NetDialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			got = network + " " + addr
			return nil, errStop
		}}
		if _, _, err := Dial(context.Background(), tt.url, opts); !errors.Is(err, errStop) || got != "tcp "+tt.addr {
			t.Errorf("Dial(%q) dialed %q, error %v; want tcp %s", tt.url, got, err, tt.addr)
		}
	}
	for _, bad := range []string{"http://example.com", "ws://", "ws:///x", "ws://example.com/#x", "ws://example.com/#", "example.com", "ws://exa mple.com"} {
		if _, _, err := Dial(context.Background(), bad, nil); !errors.Is(err, ErrURL) {
			t.Errorf("Dial(%q): %v, want ErrURL", bad, err)
		}
	}
}

// TestDialIPv6 dials an IPv6 literal, where the loopback has one.
func TestDialIPv6(t *testing.T) {
	defer leaktest.Check(t)()
	srv := httptest.NewUnstartedServer(echoHandler(t, nil))
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	nc, _, err := Dial(context.Background(), "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

func TestDialContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"canceled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer leaktest.Check(t)()
			url, _, stop := fakeServer(t, canned(""), false) // never answers
			defer stop()
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, _, err := Dial(ctx, url, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestClientContextPipe cancels a handshake over a connection the caller
// owns: the read is woken, and the conn left open.
func TestClientContextPipe(t *testing.T) {
	defer leaktest.Check(t)()
	s, c := net.Pipe()
	defer s.Close()
	defer c.Close()
	go io.Copy(io.Discard, s)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := Client(ctx, c, "ws://example.com/", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// echoHandler upgrades with opts and echoes what it reads.
func echoHandler(t *testing.T, opts *ServerOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, res, err := Upgrade(w, r, opts)
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		defer nc.Close()
		nc.Write(res.Buffered)
		io.Copy(nc, nc)
	})
}

func TestDialTLS(t *testing.T) {
	defer leaktest.Check(t)()
	srv := httptest.NewUnstartedServer(echoHandler(t, &ServerOptions{Subprotocols: []string{"chat"}}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &tls.Config{RootCAs: pool}
	url := "wss://" + srv.Listener.Addr().String() + "/"
	nc, res, err := Dial(context.Background(), url, &DialOptions{TLSConfig: cfg, Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, ok := nc.(*tls.Conn); !ok || res.Subprotocol != "chat" || cfg.ServerName != "" {
		t.Fatalf("conn %T, subprotocol %q, config ServerName %q", nc, res.Subprotocol, cfg.ServerName)
	}
	echo(t, nc)

	// Without the test's root, the certificate is refused.
	if _, _, err := Dial(context.Background(), url, nil); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

func echo(t *testing.T, nc net.Conn) {
	t.Helper()
	if _, err := nc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(nc, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo %q, %v", b, err)
	}
}

// TestEndToEnd dials our own server, through net/http and through
// UpgradeConn.
func TestEndToEnd(t *testing.T) {
	opts := &ServerOptions{
		Subprotocols: []string{"v2", "v1"},
		Extensions: func(offers []Extension) ([]Extension, error) {
			return offers[:1], nil
		},
	}
	dial := &DialOptions{
		Subprotocols: []string{"v1", "v2"},
		Extensions:   []Extension{{"permessage-deflate", []Param{{"client_max_window_bits", "12"}}}, {Name: "x-foo"}},
		Header:       http.Header{"Origin": {"http://other.example"}},
	}
	want := Result{Subprotocol: "v2", Extensions: dial.Extensions[:1]}
	t.Run("net/http", func(t *testing.T) {
		defer leaktest.Check(t)()
		o := *opts
		o.OriginPatterns = []string{"other.example"}
		srv := httptest.NewServer(echoHandler(t, &o))
		defer srv.Close()
		nc, res, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), dial)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("result %+v, want %+v", res, want)
		}
		echo(t, nc)
	})
	t.Run("raw", func(t *testing.T) {
		defer leaktest.Check(t)()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		done := make(chan Result, 1)
		go func() {
			defer close(done)
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			o := *opts
			o.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") == "http://other.example" }
			res, err := UpgradeConn(nc, &o)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(nc, nc)
			done <- res
		}()
		nc, res, err := Dial(context.Background(), "ws://"+ln.Addr().String()+"/x", dial)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("result %+v, want %+v", res, want)
		}
		echo(t, nc)
		nc.Close()
		if sr := <-done; sr.Request.URL.Path != "/x" || sr.Subprotocol != "v2" {
			t.Fatalf("server result %+v", sr)
		}
	})
}

// TestUpgradeConnTLS runs UpgradeConn over TLS: the request carries the
// connection state.
func TestUpgradeConnTLS(t *testing.T) {
	defer leaktest.Check(t)()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate and config
	srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s, c := net.Pipe()
	defer s.Close()
	defer c.Close()
	done := make(chan outcome, 1)
	go func() {
		res, err := UpgradeConn(tls.Server(s, srv.TLS), nil)
		done <- outcome{res, err}
	}()
	if _, err := Client(context.Background(), tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "example.com"}), "wss://example.com/", nil); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.res.Request.TLS == nil || !o.res.Request.TLS.HandshakeComplete {
		t.Fatalf("server: %v, TLS state %v", o.err, o.res.Request)
	}
}
