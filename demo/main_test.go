package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// startDemo serves the demo with ticks every tick until the test ends.
func startDemo(t *testing.T, tick time.Duration) (*demo, *httptest.Server) {
	t.Helper()
	d := newDemo()
	ctx, cancel := context.WithCancel(context.Background())
	go d.tick(ctx, tick)
	hs := httptest.NewServer(d.routes())
	t.Cleanup(func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		d.srv.Shutdown(sctx)
		hs.Close()
	})
	return d, hs
}

// Every page learns what any page says, and gets every tick, whichever
// transport it uses, across a dropped connection.
func TestPush(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, hs := startDemo(t, 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*pushwire.Client
	for _, transport := range []string{"websocket", "longpoll"} {
		c, err := pushwire.Dial(ctx, hs.URL+"/push/", &pushwire.ClientOptions{Topics: []string{"clock", "chat"}, Transport: transport})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for _, c := range clients {
		until(t, ctx, c, func(e event) bool { return e.Kind == "tick" })
	}
	if err := clients[0].Send(ctx, pushwire.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		until(t, ctx, c, func(e event) bool { return e.Kind == "say" && e.Text == "hello" })
	}
	// Dropped while ticks keep coming: the next ticks follow on, none missed.
	for _, c := range clients {
		last := 0
		until(t, ctx, c, func(e event) bool { last = e.N; return e.Kind == "tick" })
		c.Drop()
		for range 10 {
			until(t, ctx, c, func(e event) bool {
				if e.Kind != "tick" {
					return false
				}
				if e.N != last+1 {
					t.Fatalf("tick %d after %d: one was missed or repeated", e.N, last)
				}
				last = e.N
				return true
			})
		}
	}
}

// until reads events from c until one satisfies ok.
func until(t *testing.T, ctx context.Context, c *pushwire.Client, ok func(event) bool) {
	t.Helper()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == pushwire.EventSubscribed {
			continue
		}
		if ev.Kind != pushwire.EventPublication {
			t.Fatalf("event %+v", ev)
		}
		var e event
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("%s: %v", ev.Data, err)
		}
		if ok(e) {
			return
		}
	}
}
