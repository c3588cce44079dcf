//go:build unix

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/h2test"
)

// A real browser receives every tick over WebSocket, over long polling
// when asked, across a forced reconnection, across WebSocket being refused
// mid-session (it falls back to long polling and resumes), and on long
// polling that moves to a WebSocket: the page, after a few ticks, says
// which transports it has been on and how many ticks it missed, and a client of ours hears it. It needs Debian's
// chromium (.ci/run installs it).
func TestBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run should have installed it")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the browser test cannot run")
	}
	rows := []struct {
		name, query   string
		refuseLater   bool // refuse WebSocket once the page is on it
		proxied       bool // the page comes through a Host-rewriting reverse proxy
		wantTransport string
	}{
		{"websocket", "", false, false, "WebSocket"},
		{"forced long polling", "&transport=longpoll", false, false, "long polling"},
		{"plain polling", "&transport=polling", false, false, "plain polling"},
		{"websocket, reconnected", "&reconnect=1", false, false, "WebSocket"},
		{"websocket refused mid-session", "&reconnect=1", true, false, "WebSocket then long polling"},
		{"long polling upgraded", "&transport=upgrade", false, false, "long polling then WebSocket"},
		{"websocket behind a reverse proxy", "", false, true, "WebSocket"},
		{"long polling behind a reverse proxy", "&transport=longpoll", false, true, "long polling"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			d, hs := startDemo(t, 100*time.Millisecond, netip.MustParsePrefix("127.0.0.0/8"))
			page := hs.URL
			if r.proxied {
				page = reverseProxy(t, hs.URL).URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			listener, err := pushwire.Dial(ctx, hs.URL+"/push/", &pushwire.ClientOptions{Topics: []string{"chat"}, Transport: "longpoll"})
			if err != nil {
				t.Fatal(err)
			}
			defer listener.Close()

			defer openPage(t, ctx, chromium, page+"/?say=probe"+r.query)()
			if r.refuseLater {
				for d.srv.Stats().Sessions["websocket"] == 0 {
					if ctx.Err() != nil {
						t.Fatal("the page never connected over WebSocket")
					}
					time.Sleep(10 * time.Millisecond)
				}
				d.noWebSocket.Store(true)
			}
			waitSaid(t, ctx, listener, "probe via "+r.wantTransport+" missed=0")
		})
	}
}

// openPage opens url in headless Chromium, which trusts any certificate,
// and returns what stops it.
func openPage(t *testing.T, ctx context.Context, chromium, url string) (stop func()) {
	t.Helper()
	profile, err := os.MkdirTemp("", "chromium")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--ignore-certificate-errors",
		"--user-data-dir="+profile, "--remote-debugging-port=0", url)
	// Its own process group, so that its helper processes end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(profile)
		t.Fatal(err)
	}
	return func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		os.RemoveAll(profile)
	}
}

// waitSaid waits until the page says want through the chat.
func waitSaid(t *testing.T, ctx context.Context, listener *pushwire.Client, want string) {
	t.Helper()
	until(t, ctx, listener, func(e event) bool {
		if e.Kind == "say" && strings.HasPrefix(e.Text, "probe") && e.Text != want {
			t.Fatalf("the page said %q, want %q", e.Text, want)
		}
		return e.Kind == "say" && e.Text == want
	})
}

// Over HTTPS with HTTP/2, Chromium opens the page's WebSocket as a stream
// of the page's connection (RFC 8441), compressed, and receives every
// tick.
func TestBrowserHTTP2(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run should have installed it")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the browser test cannot run")
	}
	if !h2test.Run(t, true) {
		return
	}
	d := newDemo(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	go d.tick(ctx, 100*time.Millisecond)
	var connects sync.Map // path -> proto and the extensions agreed
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			w = headerWatch{w, func(h http.Header) {
				connects.Store(r.URL.Path, r.Proto+" "+h.Get("Sec-WebSocket-Extensions"))
			}}
		}
		d.routes().ServeHTTP(w, r)
	}))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	defer d.srv.Shutdown(context.Background())
	listener, err := pushwire.Dial(ctx, hs.URL+"/push/", &pushwire.ClientOptions{Topics: []string{"chat"}, Transport: "longpoll", HTTPClient: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	defer openPage(t, ctx, chromium, hs.URL+"/?say=probe")()
	waitSaid(t, ctx, listener, "probe via WebSocket missed=0")
	p, _ := connects.Load("/push/")
	if s, _ := p.(string); !strings.HasPrefix(s, "HTTP/2.0 permessage-deflate") {
		t.Fatalf("the page's WebSocket: CONNECT over %v, want HTTP/2.0 and permessage-deflate", p)
	}
}

// headerWatch calls seen with the response's header as it is sent.
type headerWatch struct {
	http.ResponseWriter
	seen func(http.Header)
}

func (w headerWatch) WriteHeader(code int) {
	w.seen(w.Header())
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the flusher and deadlines.
func (w headerWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }
