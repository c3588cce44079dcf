package interop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// closes are the close codes and reasons sent each way: the normal codes, a
// registered one and the last private one, with reasons in UTF-8, the last
// one of the full 123 bytes.
var closes = []struct {
	code   conn.CloseCode
	reason string
}{
	{conn.CloseNormal, "done"},
	{conn.CloseGoingAway, "going away"},
	{3000, "registered: ünïcödé ✓"},
	{4999, strings.Repeat("€", 40) + "end"},
}

// The side that closes sends its code and reason; the other reads exactly
// them, and answers with the same code.
func TestClose(t *testing.T) {
	if n := len(closes[3].reason); n != 123 {
		t.Fatalf("the long reason has %d bytes, want 123", n)
	}
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			t.Run("pushwire-client", func(t *testing.T) {
				t.Parallel()
				srv := startServer(t, p)
				for _, cl := range closes {
					t.Run(fmt.Sprintf("pushwire-closes-%d", cl.code), func(t *testing.T) {
						c := dialPeer(t, srv, url.Values{})
						if err := c.Close(cl.code, cl.reason); err != nil {
							t.Fatalf("close: %v", err)
						}
						e := srv.await(t, t.Name(), "close")
						if e.Code != int(cl.code) || e.Reason != cl.reason {
							t.Errorf("the peer read close %d %q, want %d %q", e.Code, e.Reason, cl.code, cl.reason)
						}
					})
					t.Run(fmt.Sprintf("peer-closes-%d", cl.code), func(t *testing.T) {
						c := dialPeer(t, srv, url.Values{"close": {strconv.Itoa(int(cl.code))}, "reason": {cl.reason}})
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						_, _, err := c.ReadMessage(ctx, nil)
						wantClose(t, err, cl.code, cl.reason)
						e := srv.await(t, t.Name(), "close")
						if e.Code != int(cl.code) {
							t.Errorf("pushwire answered the close with %d, want %d", e.Code, cl.code)
						}
					})
				}
			})
			t.Run("pushwire-server", func(t *testing.T) {
				t.Parallel()
				srv := startGoServer(t)
				var cases []clientCase
				for _, cl := range closes {
					id := fmt.Sprintf("pushwire-closes-%d", cl.code)
					cases = append(cases, clientCase{ID: id, URL: srv.url(id, url.Values{
						"close": {strconv.Itoa(int(cl.code))}, "reason": {cl.reason}})})
					id = fmt.Sprintf("peer-closes-%d", cl.code)
					cases = append(cases, clientCase{ID: id, URL: srv.url(id, nil),
						Close: &peerClose{Code: int(cl.code), Reason: cl.reason}})
				}
				done := runClient(t, p, cases)
				for _, cl := range closes {
					t.Run(fmt.Sprintf("pushwire-closes-%d", cl.code), func(t *testing.T) {
						id := fmt.Sprintf("pushwire-closes-%d", cl.code)
						e, res := done[id], srv.result(t, id)
						if res.end != nil {
							t.Errorf("close: %v", res.end)
						}
						if e.Code != int(cl.code) || e.Reason != cl.reason {
							t.Errorf("the peer read close %d %q, want %d %q", e.Code, e.Reason, cl.code, cl.reason)
						}
					})
					t.Run(fmt.Sprintf("peer-closes-%d", cl.code), func(t *testing.T) {
						id := fmt.Sprintf("peer-closes-%d", cl.code)
						e, res := done[id], srv.result(t, id)
						wantClose(t, res.end, cl.code, cl.reason)
						if e.Code != int(cl.code) {
							t.Errorf("pushwire answered the close with %d, want %d", e.Code, cl.code)
						}
					})
				}
			})
		})
	}
}

// dialPeer is dialPeerWith without options.
func dialPeer(t *testing.T, srv *peerServer, q url.Values) *conn.Conn {
	t.Helper()
	c, _ := dialPeerWith(t, srv, q, nil)
	return c
}

// wantClose checks that err is the peer's close with code and reason.
func wantClose(t *testing.T, err error, code conn.CloseCode, reason string) {
	t.Helper()
	var ce *conn.CloseError
	if !errors.As(err, &ce) || ce.Local || ce.Code != code || ce.Reason != reason {
		t.Errorf("read ended with %v, want the peer's close %d %q", err, code, reason)
	}
}
