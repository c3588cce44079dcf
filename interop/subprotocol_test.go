package interop

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// supported is the servers' list, in order of preference: each side's
// server picks the first of its list that the client offered.
var supported = []string{"v1.pushwire", "v2.pushwire"}

var subprotocolCases = []struct {
	name    string
	offered []string
	want    string
}{
	{"server-preference", []string{"v2.pushwire", "v1.pushwire"}, "v1.pushwire"},
	{"one-in-common", []string{"chat", "v2.pushwire"}, "v2.pushwire"},
	{"none-in-common", []string{"chat"}, ""},
	{"none-offered", nil, ""},
}

// Both sides see the same subprotocol chosen, or none, and the connection
// then carries messages.
func TestSubprotocol(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			t.Run("pushwire-client", func(t *testing.T) {
				t.Parallel()
				srv := startServer(t, p, "--subprotocols", strings.Join(supported, ","))
				for _, sc := range subprotocolCases {
					t.Run(sc.name, func(t *testing.T) {
						c, open := dialPeerWith(t, srv, url.Values{}, &conn.DialOptions{Subprotocols: sc.offered})
						if got := c.Subprotocol(); got != sc.want || open.Protocol != sc.want {
							t.Errorf("pushwire chose %q, the peer %q, want %q", got, open.Protocol, sc.want)
						}
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						if err := c.WriteMessage(ctx, conn.Text, []byte("hello")); err != nil {
							t.Fatal(err)
						}
						if _, msg, err := c.ReadMessage(ctx, nil); err != nil || string(msg) != "hello" {
							t.Fatalf("echo: %q, %v", msg, err)
						}
						if err := c.Close(conn.CloseNormal, ""); err != nil {
							t.Fatal(err)
						}
						srv.await(t, t.Name(), "close")
					})
				}
			})
			t.Run("pushwire-server", func(t *testing.T) {
				t.Parallel()
				srv := startGoServer(t)
				var cases []clientCase
				for _, sc := range subprotocolCases {
					cases = append(cases, clientCase{
						ID:          sc.name,
						URL:         srv.url(sc.name, url.Values{"protocols": {strings.Join(supported, ",")}}),
						Protocols:   sc.offered,
						Messages:    []peerMessage{{Type: "text", Size: 5}},
						Close:       &peerClose{Code: 1000},
						ExpectError: refusal(p, sc.offered, sc.want),
					})
				}
				done := runClient(t, p, cases)
				for _, sc := range subprotocolCases {
					t.Run(sc.name, func(t *testing.T) {
						e, res := done[sc.name], srv.result(t, sc.name)
						if want := refusal(p, sc.offered, sc.want); want != "" {
							if !strings.Contains(e.Error, want) || res.protocol != "" {
								t.Errorf("pushwire chose %q; the peer ended with %q, want its refusal %q", res.protocol, e.Error, want)
							}
							return
						}
						if res.protocol != sc.want || e.Protocol != sc.want {
							t.Errorf("pushwire chose %q, the peer %q, want %q", res.protocol, e.Protocol, sc.want)
						}
						if res.messages != 1 {
							t.Errorf("echoed %d messages, want 1", res.messages)
						}
					})
				}
			})
		})
	}
}

// refusal is the error p's client fails with when the server picks none
// of the subprotocols offered, or "".
func refusal(p *peer, offered []string, chosen string) string {
	if len(offered) > 0 && chosen == "" {
		return p.noSubprotocol
	}
	return ""
}
