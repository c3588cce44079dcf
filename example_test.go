package pushwire_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushwire/pushwire"
)

// A server publishing on a topic, and a Go client that subscribes to it:
// the client resumes where it stopped after any reconnection.
func Example() {
	srv := pushwire.NewServer(pushwire.Options{})
	mux := http.NewServeMux()
	mux.Handle("/push/", srv) // WebSocket, long polling and /push/pushwire.js
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushwire.Dial(ctx, hs.URL+"/push/", &pushwire.ClientOptions{Topics: []string{"prices"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	// Live from here: what is published next reaches the client.
	if ev, err := c.Next(ctx); err != nil || ev.Kind != pushwire.EventSubscribed {
		fmt.Println(ev, err)
		return
	}
	srv.PublishJSON(ctx, "prices", map[string]float64{"EURUSD": 1.0825})
	ev, err := c.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	var price map[string]float64
	ev.JSON(&price)
	fmt.Println(ev.Topic, price["EURUSD"], c.Transport())
	// Output: prices 1.0825 websocket
}

// The endpoint: authentication on the opening request, and the messages
// clients send.
func ExampleOptions() {
	srv := pushwire.NewServer(pushwire.Options{
		Authenticate: func(r *http.Request) (any, error) {
			user := r.Header.Get("X-User")
			if user == "" {
				return nil, &pushwire.HTTPError{Status: http.StatusUnauthorized, Err: fmt.Errorf("no user")}
			}
			return user, nil // Session.Value
		},
		OnMessage: func(s *pushwire.Session, _ pushwire.MessageType, data []byte) {
			s.SendJSON(context.Background(), map[string]string{"echo": string(data), "to": s.Value().(string)})
		},
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pushwire.Dial(ctx, hs.URL, nil); err != nil {
		fmt.Println("without a user: refused")
	}
	c, err := pushwire.Dial(ctx, hs.URL, &pushwire.ClientOptions{Header: http.Header{"X-User": {"ada"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Send(ctx, pushwire.Text, []byte("hi"))
	ev, _ := c.Next(ctx)
	fmt.Println(string(ev.Data))
	// Output:
	// without a user: refused
	// {"echo":"hi","to":"ada"}
}
