package interop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// startTinyproxy runs Debian's tinyproxy on loopback, requiring Basic
// credentials, and returns its URL with them. Under CI it must be there
// (.ci/run installs it); elsewhere the test skips without it.
func startTinyproxy(t *testing.T) *url.URL {
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tinyproxy is not installed: .ci/run should have installed it")
		}
		t.Skip("tinyproxy is not installed")
	}
	// tinyproxy takes a port, not a listener: a free one, found and freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := fmt.Sprintf("Port %s\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 50\nBasicAuth ann s3cret\nDisableViaHeader Yes\nLogLevel Error\nPidFile %q\n",
		port, filepath.Join(dir, "pid"))
	if os.Geteuid() == 0 {
		conf += "User nobody\nGroup nogroup\n"
	}
	path := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tinyproxy did not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &url.URL{Scheme: "http", Host: addr, User: url.UserPassword("ann", "s3cret")}
}

// Both transports' Go clients reach the server through a real proxy,
// Debian's tinyproxy: WebSocket over ws:// and wss:// through CONNECT,
// long polling over http:// (requests forwarded) and https:// (CONNECT).
// The clients may dial only the proxy.
func TestThroughTinyproxy(t *testing.T) {
	proxy := startTinyproxy(t)
	onlyProxy := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != proxy.Host {
			return nil, fmt.Errorf("dialled %s, not the proxy", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	lp := longpoll.NewHandler(nil)
	defer lp.Close()
	go func() {
		for {
			s, err := lp.Accept(context.Background())
			if err != nil {
				return
			}
			go echoMessages(s)
		}
	}()
	mux := http.NewServeMux()
	mux.Handle("/lp/", http.StripPrefix("/lp", lp))
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		echoMessages(c)
	})
	for _, secure := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(mux)
		if secure {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		defer srv.Close()
		tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
		scheme := map[bool]string{false: "ws", true: "wss"}[secure]
		t.Run(scheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &conn.DialOptions{
				TLSConfig:      tlsConfig,
				Proxy:          http.ProxyURL(proxy),
				NetDialContext: onlyProxy,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			exchange(t, ctx, c)
		})
		t.Run("longpoll-"+map[bool]string{false: "http", true: "https"}[secure], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: tlsConfig, DialContext: onlyProxy}
			defer tr.CloseIdleConnections()
			c, err := longpoll.Dial(ctx, srv.URL+"/lp", &longpoll.DialOptions{HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			exchange(t, ctx, c)
		})
	}
}

// exchange sends messages of a few sizes and reads each back.
func exchange(t *testing.T, ctx context.Context, c conn.MessageConn) {
	t.Helper()
	for _, n := range []int{0, 1, 125, 70000} {
		msg := strings.Repeat("p", n)
		if err := c.WriteMessage(ctx, conn.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(ctx, nil); err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
}

// echoMessages sends back every message c reads until it ends.
func echoMessages(c conn.MessageConn) {
	for {
		typ, msg, err := c.ReadMessage(context.Background(), nil)
		if err != nil {
			return
		}
		if c.WriteMessage(context.Background(), typ, msg) != nil {
			return
		}
	}
}
