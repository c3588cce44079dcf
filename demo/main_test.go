package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// startDemo serves the demo with ticks every tick until the test ends,
// trusting the reverse proxies trusted.
func startDemo(t *testing.T, tick time.Duration, trusted ...netip.Prefix) (*demo, *httptest.Server) {
	t.Helper()
	d := newDemo(trusted)
	ctx, cancel := context.WithCancel(context.Background())
	go d.tick(ctx, tick)
	hs := httptest.NewServer(d.routes())
	t.Cleanup(func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		d.srv.Shutdown(sctx)
		hs.Close()
	})
	return d, hs
}

// Every page learns what any page says, and gets every tick, whichever
// transport it uses, across a dropped connection.
func TestPush(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, hs := startDemo(t, 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*pushwire.Client
	for _, transport := range []string{"websocket", "longpoll"} {
		c, err := pushwire.Dial(ctx, hs.URL+"/push/", &pushwire.ClientOptions{Topics: []string{"clock", "chat"}, Transport: transport})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for _, c := range clients {
		until(t, ctx, c, func(e event) bool { return e.Kind == "tick" })
	}
	if err := clients[0].Send(ctx, pushwire.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		until(t, ctx, c, func(e event) bool { return e.Kind == "say" && e.Text == "hello" })
	}
	// Dropped while ticks keep coming: the next ticks follow on, none missed.
	for _, c := range clients {
		last := 0
		until(t, ctx, c, func(e event) bool { last = e.N; return e.Kind == "tick" })
		c.Drop()
		for range 10 {
			until(t, ctx, c, func(e event) bool {
				if e.Kind != "tick" {
					return false
				}
				if e.N != last+1 {
					t.Fatalf("tick %d after %d: one was missed or repeated", e.N, last)
				}
				last = e.N
				return true
			})
		}
	}
}

// reverseProxy fronts the node as nginx set up by the README would: Host
// rewritten to the node's, the asked-for host in X-Forwarded-Host.
func reverseProxy(t *testing.T, node string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(node)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.SetXForwarded()
	}})
	t.Cleanup(front.Close)
	return front
}

// Behind a Host-rewriting reverse proxy, a page served by the proxy works
// on both transports when the demo trusts the proxy; when it does not, it
// refuses and its log says why.
func TestBehindReverseProxy(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	var logged strings.Builder
	var mu sync.Mutex
	log.SetOutput(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logged.Write(p) }))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, trusted := range []bool{true, false} {
		for _, transport := range []string{"websocket", "longpoll"} {
			t.Run(fmt.Sprintf("%s/trusted=%v", transport, trusted), func(t *testing.T) {
				var proxies []netip.Prefix
				if trusted {
					proxies = loopback
				}
				_, hs := startDemo(t, 20*time.Millisecond, proxies...)
				front := reverseProxy(t, hs.URL)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				// A page the proxy served sends the proxy's origin.
				c, err := pushwire.Dial(ctx, front.URL+"/push/", &pushwire.ClientOptions{
					Topics: []string{"clock"}, Transport: transport, Header: http.Header{"Origin": {front.URL}},
				})
				if !trusted {
					if err == nil {
						c.Close()
						t.Fatal("an untrusted proxy's page got through")
					}
					mu.Lock()
					defer mu.Unlock()
					if !strings.Contains(logged.String(), "not a trusted proxy") {
						t.Fatalf("the log does not say why it refused: %q", logged.String())
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				until(t, ctx, c, func(e event) bool { return e.Kind == "tick" })
			})
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestParsePrefixes(t *testing.T) {
	for _, r := range []struct {
		in   string
		want string // the prefixes joined by " ", or "error"
	}{
		{"", ""},
		{"10.0.0.1", "10.0.0.1/32"},
		{"10.0.0.0/8, ::1 ,", "10.0.0.0/8 ::1/128"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.0.0.0/33", "error"},
		{"nginx", "error"},
	} {
		got, err := parsePrefixes(r.in)
		s := fmt.Sprint(got)
		s = strings.Trim(s, "[]")
		if err != nil {
			s = "error"
		}
		if s != r.want {
			t.Errorf("parsePrefixes(%q) = %q, want %q", r.in, s, r.want)
		}
	}
}

// until reads events from c until one satisfies ok.
func until(t *testing.T, ctx context.Context, c *pushwire.Client, ok func(event) bool) {
	t.Helper()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == pushwire.EventSubscribed {
			continue
		}
		if ev.Kind != pushwire.EventPublication {
			t.Fatalf("event %+v", ev)
		}
		var e event
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("%s: %v", ev.Data, err)
		}
		if ok(e) {
			return
		}
	}
}
