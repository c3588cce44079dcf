package conn_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/proxytest"
)

// Dial reaches ws:// and wss:// servers through HTTP (plain and TLS) and
// SOCKS5 proxies, with and without credentials, and the messages cross
// the tunnel; wrong credentials fail with ErrProxy and the proxy's status.
func TestDialProxy(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close(conn.CloseNormal, "")
		typ, msg, err := c.ReadMessage(bg, nil)
		if err == nil {
			c.WriteMessage(bg, typ, msg)
		}
	})
	servers := map[string]*httptest.Server{"ws": httptest.NewServer(echo), "wss": httptest.NewTLSServer(echo)}
	for _, s := range servers {
		defer s.Close()
	}
	// httptest's servers share one certificate: this trusts the wss server
	// and the https proxy.
	tlsConfig := servers["wss"].Client().Transport.(*http.Transport).TLSClientConfig
	for _, row := range []struct {
		name     string
		proxy    func(t *testing.T) *proxytest.Proxy
		user     *url.Userinfo // replaces the proxy's own credentials if set
		status   int           // of a refusal; 0 for a tunnel
		refusals int64
	}{
		{name: "http", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.HTTP(t, "", "", false) }},
		{name: "http auth", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.HTTP(t, "ann", "s3cret:x", false) }},
		{name: "https auth", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.HTTP(t, "ann", "s3cret", true) }},
		{name: "socks5", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.SOCKS5(t, "", "") }},
		{name: "socks5 auth", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.SOCKS5(t, "ann", "s3cret") }},
		{name: "http wrong password", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.HTTP(t, "ann", "s3cret", false) },
			user: url.UserPassword("ann", "guess"), status: http.StatusProxyAuthRequired, refusals: 1},
		{name: "http no password", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.HTTP(t, "ann", "s3cret", false) },
			user: url.User(""), status: http.StatusProxyAuthRequired, refusals: 1},
		{name: "socks5 wrong password", proxy: func(t *testing.T) *proxytest.Proxy { return proxytest.SOCKS5(t, "ann", "s3cret") },
			user: url.UserPassword("ann", "guess"), refusals: 1},
	} {
		for _, scheme := range []string{"ws", "wss"} {
			t.Run(row.name+"/"+scheme, func(t *testing.T) {
				p := row.proxy(t)
				pu := *p.URL
				if row.user != nil {
					pu.User = row.user
					if row.user.Username() == "" {
						pu.User = nil
					}
				}
				target := "ws" + strings.TrimPrefix(servers[scheme].URL, "http")
				c, err := conn.Dial(bg, target, &conn.DialOptions{
					TLSConfig: tlsConfig.Clone(),
					Proxy:     func(*http.Request) (*url.URL, error) { return &pu, nil },
				})
				if row.refusals > 0 {
					var he *handshake.Error
					if !errors.Is(err, handshake.ErrProxy) || !errors.As(err, &he) || he.Status != row.status {
						t.Fatalf("Dial: %v, want ErrProxy with status %d", err, row.status)
					}
					if got := p.Refused.Load(); got != row.refusals {
						t.Fatalf("the proxy refused %d requests, want %d", got, row.refusals)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(conn.CloseNormal, "")
				if err := c.WriteMessage(bg, conn.Text, []byte("through")); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := c.ReadMessage(bg, nil); err != nil || string(msg) != "through" {
					t.Fatalf("echo: %q, %v", msg, err)
				}
				if n := p.Tunnels.Load(); n != 1 {
					t.Fatalf("%d tunnels through the proxy, want 1", n)
				}
			})
		}
	}
}
