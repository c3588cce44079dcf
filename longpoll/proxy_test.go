package longpoll

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/proxytest"
)

// The Go client goes through a proxy as net/http does, given an
// http.Client whose Transport has it: absolute-form requests for http://,
// a CONNECT tunnel for https://, credentials from the proxy URL.
func TestClientThroughProxy(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[secure]
		t.Run(name, func(t *testing.T) {
			h := NewHandler(nil)
			defer h.Close()
			go func() {
				for {
					s, err := h.Accept(bg)
					if err != nil {
						return
					}
					go echo(s)
				}
			}()
			srv := httptest.NewUnstartedServer(h)
			if secure {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			p := proxytest.HTTP(t, "ann", "s3cret", false)
			tr := &http.Transport{Proxy: http.ProxyURL(p.URL)}
			if secure {
				tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			defer tr.CloseIdleConnections()
			c, err := Dial(bg, srv.URL, &DialOptions{HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range []string{"one", "two"} {
				if err := c.WriteMessage(bg, conn.Text, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.ReadMessage(bg, nil); err != nil || string(got) != msg {
					t.Fatalf("echo: %q, %v", got, err)
				}
			}
			if err := c.Close(conn.CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
			// http:// goes request by request, https:// through tunnels.
			if forwarded, tunnels := p.Forwarded.Load(), p.Tunnels.Load(); secure && tunnels == 0 || !secure && forwarded == 0 {
				t.Fatalf("%d requests forwarded, %d tunnels: the client went around the proxy", forwarded, tunnels)
			}
		})
	}
}
