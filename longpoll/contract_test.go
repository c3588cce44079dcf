package longpoll_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/conntest"
	"github.com/pushwire/pushwire/longpoll"
)

// The long-poll Session and Client keep the MessageConn contract, with
// polls held and with plain polling.
func TestMessageConnContract(t *testing.T) {
	for _, mode := range []struct {
		name string
		dial *longpoll.DialOptions
	}{
		{"held", nil},
		{"plain", &longpoll.DialOptions{PollInterval: 10 * time.Millisecond}},
	} {
		for _, sessionFirst := range []bool{true, false} {
			name := mode.name + "/session-to-client"
			if !sessionFirst {
				name = mode.name + "/client-to-session"
			}
			t.Run(name, func(t *testing.T) {
				conntest.Run(t, func(t *testing.T) (a, b conn.MessageConn, stop func()) {
					h := longpoll.NewHandler(&longpoll.Options{Hold: time.Second})
					srv := httptest.NewServer(h)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					accepted := make(chan *longpoll.Session, 1)
					go func() {
						s, err := h.Accept(ctx)
						if err == nil {
							accepted <- s
						}
						close(accepted)
					}()
					c, err := longpoll.Dial(ctx, srv.URL, mode.dial)
					if err != nil {
						t.Fatal(err)
					}
					s := <-accepted
					if s == nil {
						t.Fatal("no session accepted")
					}
					stop = func() { h.Close(); srv.Close() }
					if sessionFirst {
						return s, c, stop
					}
					return c, s, stop
				})
			})
		}
	}
}
