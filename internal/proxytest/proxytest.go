// Package proxytest runs forward proxies for tests of clients that dial
// through them: an HTTP proxy (CONNECT tunnels and absolute-form
// requests, plain or over TLS) and a SOCKS5 proxy, each with optional
// credentials, counting what passed through them; and a round-robin
// balancer without affinity, for servers in the test's process.
package proxytest

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a running proxy.
type Proxy struct {
	// URL is the proxy's, with the credentials it requires.
	URL *url.URL
	// Tunnels counts the tunnels opened, Forwarded the absolute-form
	// requests forwarded, Refused the requests refused for credentials.
	Tunnels, Forwarded, Refused atomic.Int64
	// Server is the HTTP proxy's server (nil for SOCKS5): its Client's
	// TLS configuration trusts the certificate of an https proxy.
	Server *httptest.Server

	user, pass string
	wg         sync.WaitGroup
}

// HTTP starts an HTTP proxy, over TLS if tls is set, that requires Basic
// credentials if user is not empty; the test's cleanup stops it.
func HTTP(t testing.TB, user, pass string, tls bool) *Proxy {
	p := &Proxy{user: user, pass: pass}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(p.serveHTTP))
	if tls {
		p.Server.StartTLS()
	} else {
		p.Server.Start()
	}
	t.Cleanup(p.close)
	p.URL, _ = url.Parse(p.Server.URL)
	if user != "" {
		p.URL.User = url.UserPassword(user, pass)
	}
	return p
}

func (p *Proxy) close() {
	if p.Server != nil {
		p.Server.CloseClientConnections()
		p.Server.Close()
	}
	p.wg.Wait()
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if r.Header.Get("Proxy-Authorization") != want {
			p.Refused.Add(1)
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxytest"`)
			http.Error(w, "proxy credentials required", http.StatusProxyAuthRequired)
			return
		}
	}
	if r.Method != http.MethodConnect {
		p.forward(w, r)
		return
	}
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.Tunnels.Add(1)
	down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	p.pipe(down, brw.Reader, up)
}

// forward sends an absolute-form request on to its server.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.Forwarded.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	res, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	io.Copy(w, res.Body)
}

// pipe copies both ways between down (whose reader br may hold bytes read
// ahead) and up until either side ends, then closes both.
func (p *Proxy) pipe(down net.Conn, br io.Reader, up net.Conn) {
	p.wg.Add(2)
	var once sync.Once
	stop := func() { once.Do(func() { down.Close(); up.Close() }) }
	go func() { defer p.wg.Done(); io.Copy(up, br); stop() }()
	go func() { defer p.wg.Done(); io.Copy(down, up); stop() }()
}

// SOCKS5 starts a SOCKS5 proxy (RFC 1928) that requires a username and
// password (RFC 1929) if user is not empty; the test's cleanup stops it.
func SOCKS5(t testing.TB, user, pass string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{user: user, pass: pass, URL: &url.URL{Scheme: "socks5", Host: ln.Addr().String()}}
	if user != "" {
		p.URL.User = url.UserPassword(user, pass)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serveSOCKS(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// serveSOCKS serves one SOCKS5 connection: a CONNECT, then the tunnel.
func (p *Proxy) serveSOCKS(c net.Conn) {
	br := bufio.NewReader(c)
	fail := func() { c.Close() }
	var b [255]byte
	if _, err := io.ReadFull(br, b[:2]); err != nil || b[0] != 5 {
		fail()
		return
	}
	methods := b[:b[1]]
	if _, err := io.ReadFull(br, methods); err != nil {
		fail()
		return
	}
	want := byte(0)
	if p.user != "" {
		want = 2
	}
	if !slices.Contains(methods, want) {
		c.Write([]byte{5, 0xff})
		fail()
		return
	}
	c.Write([]byte{5, want})
	if want == 2 {
		v, err := br.ReadByte()
		user, ok1 := readShort(br)
		pass, ok2 := readShort(br)
		if err != nil || v != 1 || !ok1 || !ok2 || user != p.user || pass != p.pass {
			p.Refused.Add(1)
			c.Write([]byte{1, 1})
			fail()
			return
		}
		c.Write([]byte{1, 0})
	}
	if _, err := io.ReadFull(br, b[:4]); err != nil || b[1] != 1 {
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0})
		fail()
		return
	}
	var host string
	switch b[3] {
	case 1, 4:
		ip := make([]byte, map[byte]int{1: 4, 4: 16}[b[3]])
		if _, err := io.ReadFull(br, ip); err != nil {
			fail()
			return
		}
		host = net.IP(ip).String()
	case 3:
		name, ok := readShort(br)
		if !ok {
			fail()
			return
		}
		host = name
	default:
		c.Write([]byte{5, 8, 0, 1, 0, 0, 0, 0, 0, 0})
		fail()
		return
	}
	if _, err := io.ReadFull(br, b[:2]); err != nil {
		fail()
		return
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(b[:2]))))
	up, err := net.Dial("tcp", addr)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		fail()
		return
	}
	p.Tunnels.Add(1)
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	p.pipe(c, br, up)
}

// readShort reads a length-prefixed string (RFC 1929's fields, RFC 1928's
// domain name).
func readShort(r *bufio.Reader) (string, bool) {
	n, err := r.ReadByte()
	if err != nil {
		return "", false
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return string(b), err == nil
}

// RoundRobin sends each request to the next of its handlers in turn,
// whatever its session: a balancer without affinity.
type RoundRobin struct {
	hs   []http.Handler
	next atomic.Uint64
}

// NewRoundRobin balances over hs.
func NewRoundRobin(hs ...http.Handler) *RoundRobin { return &RoundRobin{hs: hs} }

// ServeHTTP hands r to the next handler.
func (b *RoundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hs[(b.next.Add(1)-1)%uint64(len(b.hs))].ServeHTTP(w, r)
}
