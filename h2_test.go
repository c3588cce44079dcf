package pushwire_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/h2test"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// Over HTTP/2, a client's WebSocket (and a long-polling session's upgrade)
// is an extended CONNECT stream (RFC 8441) on the connection its polls
// use: publications arrive, and the session is on a WebSocket.
func TestHTTP2Sessions(t *testing.T) {
	if !h2test.Run(t, true) {
		return
	}
	t.Cleanup(leaktest.Check(t))
	for _, transport := range []string{"websocket", "upgrade"} {
		t.Run(transport, func(t *testing.T) {
			srv := pushwire.NewServer(pushwire.Options{})
			var mu sync.Mutex
			connects := map[string]string{} // path -> proto of CONNECTs
			mux := http.NewServeMux()
			mux.Handle("/push/", srv)
			hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodConnect {
					mu.Lock()
					connects[r.URL.Path] = r.Proto
					mu.Unlock()
				}
				mux.ServeHTTP(w, r)
			}))
			hs.EnableHTTP2 = true
			hs.StartTLS()
			defer hs.Close()
			defer srv.Shutdown(bg)
			//lint:ignore SA1019 net/http's Transport cannot send extended CONNECT
			tr := &http2.Transport{TLSClientConfig: hs.Client().Transport.(*http.Transport).TLSClientConfig}
			var idle interface{ CloseIdleConnections() } = tr
			defer idle.CloseIdleConnections()
			c, err := pushwire.Dial(bg, hs.URL+"/push/", &pushwire.ClientOptions{
				Topics: []string{"news"}, Transport: transport, HTTP2: tr, HTTPClient: hs.Client(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for deadline := time.Now().Add(10 * time.Second); c.Transport() != "websocket"; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("on %q, not a WebSocket", c.Transport())
				}
			}
			waitSubscribed(t, srv, c, "news")
			if _, err := srv.Publish(bg, "news", pushwire.Text, []byte("over h2")); err != nil {
				t.Fatal(err)
			}
			if ev := next(t, c); ev.Kind != pushwire.EventPublication || string(ev.Data) != "over h2" {
				t.Fatalf("got %+v", ev)
			}
			want := "/push/"
			if transport == "upgrade" {
				want = "/push/upgrade"
			}
			mu.Lock()
			proto := connects[want]
			mu.Unlock()
			if proto != "HTTP/2.0" {
				t.Fatalf("CONNECTs %v, want %s over HTTP/2", connects, want)
			}
		})
	}
}
