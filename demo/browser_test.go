//go:build unix

package main

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// A real browser receives pushed events over WebSocket, over long polling
// when asked, and over long polling on its own when WebSocket is refused:
// the page, once a tick has reached it, says so through the hub, and a
// client of ours hears it. It needs Debian's chromium (.ci/run installs it).
func TestBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium): the browser test cannot run")
	}
	rows := []struct {
		name, query   string
		noWebSocket   bool
		wantTransport string
	}{
		{"websocket", "", false, "WebSocket"},
		{"forced long polling", "&transport=longpoll", false, "long polling"},
		{"websocket refused", "", true, "long polling"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h := newHub(200 * time.Millisecond)
			defer h.lp.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			go h.tick(ctx, 100*time.Millisecond)
			srv := httptest.NewServer(h.routes())
			defer srv.Close()

			// Our own listener, over WebSocket even when browsers are refused it.
			listener, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer listener.Close(conn.CloseNormal, "")
			h.noWebSocket.Store(r.noWebSocket)

			profile, err := os.MkdirTemp("", "chromium")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(profile)

			cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
				"--disable-quic", "--no-first-run", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
				"--remote-debugging-port=0", srv.URL+"/?say=probe"+r.query)
			// Its own process group, so that its helper processes end with it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Wait()
			}()

			want := "probe via " + r.wantTransport
			until(t, ctx, listener, func(e event) bool { return e.Kind == "say" && e.Text == want })
		})
	}
}
