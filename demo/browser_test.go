//go:build unix

package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
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

			profile, err := os.MkdirTemp("", "chromium")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(profile)

			cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
				"--disable-quic", "--no-first-run", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
				"--remote-debugging-port=0", page+"/?say=probe"+r.query)
			// Its own process group, so that its helper processes end with it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Wait()
			}()
			if r.refuseLater {
				for d.srv.Stats().Sessions["websocket"] == 0 {
					if ctx.Err() != nil {
						t.Fatal("the page never connected over WebSocket")
					}
					time.Sleep(10 * time.Millisecond)
				}
				d.noWebSocket.Store(true)
			}
			want := "probe via " + r.wantTransport + " missed=0"
			until(t, ctx, listener, func(e event) bool {
				if e.Kind == "say" && strings.HasPrefix(e.Text, "probe") && e.Text != want {
					t.Fatalf("the page said %q, want %q", e.Text, want)
				}
				return e.Kind == "say" && e.Text == want
			})
		})
	}
}
