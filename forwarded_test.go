package pushwire_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/longpoll"
)

// Behind a reverse proxy that rewrites Host to the node's address and
// sends X-Forwarded-Host (httputil.ReverseProxy with SetURL and
// SetXForwarded), a page's requests are same-origin only by the forwarded
// host: trusted, both transports work; untrusted, both are refused 403 and
// OnRefuse is told why, naming the header and the proxy's address.
func TestBehindReverseProxy(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, trusted := range []bool{true, false} {
		for _, transport := range []string{"websocket", "longpoll"} {
			name := transport + map[bool]string{true: "/trusted", false: "/untrusted"}[trusted]
			t.Run(name, func(t *testing.T) {
				var mu sync.Mutex
				var refusals []error
				opts := pushwire.Options{
					OnRefuse: func(r *http.Request, err error) { mu.Lock(); refusals = append(refusals, err); mu.Unlock() },
				}
				if trusted {
					opts.WebSocket = &conn.AcceptOptions{TrustedProxies: loopback}
					opts.LongPoll = &longpoll.Options{TrustedProxies: loopback}
				}
				srv, node := startServer(t, opts)
				target, _ := url.Parse(node)
				rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
					r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
					r.SetXForwarded()
				}}
				front := httptest.NewServer(rp)
				defer front.Close()
				// The page was served by the proxy: its origin is the proxy's.
				c, err := pushwire.Dial(bg, front.URL+"/push/", &pushwire.ClientOptions{
					Transport: transport, Topics: []string{"t"},
					Header: http.Header{"Origin": {front.URL}},
				})
				if !trusted {
					if err == nil {
						c.Close()
						t.Fatal("Dial succeeded through an untrusted proxy")
					}
					mu.Lock()
					defer mu.Unlock()
					if len(refusals) == 0 {
						t.Fatal("OnRefuse was not told")
					}
					err := refusals[0]
					host := strings.TrimPrefix(front.URL, "http://")
					if !errors.Is(err, handshake.ErrOrigin) || !strings.Contains(err.Error(), `X-Forwarded-Host "`+host+`"`) ||
						!strings.Contains(err.Error(), "not a trusted proxy") {
						t.Fatalf("refusal: %v, want ErrOrigin naming X-Forwarded-Host %q and the untrusted proxy", err, host)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				waitSubscribed(t, srv, c, "t")
				pos, err := srv.Publish(bg, "t", pushwire.Text, []byte("through the proxy"))
				if err != nil {
					t.Fatal(err)
				}
				if ev := next(t, c); ev.Kind != pushwire.EventPublication || string(ev.Data) != "through the proxy" || ev.Position != pos {
					t.Fatalf("got %+v", ev)
				}
			})
		}
	}
}
