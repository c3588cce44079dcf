package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/longpoll"
)

// Every page learns at once what any page says, and the server's ticks,
// whichever transport it uses.
func TestPush(t *testing.T) {
	defer leaktest.Check(t)()
	h := newHub(200 * time.Millisecond)
	defer h.lp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tickCtx, stopTicks := context.WithCancel(ctx)
	go h.tick(tickCtx, 20*time.Millisecond)
	srv := httptest.NewServer(h.routes())
	defer srv.Close()
	defer stopTicks()

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	a, err := conn.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// a is alone: the first arrival it hears of is its own.
	var aID int
	until(t, ctx, a, func(e event) bool { aID = e.From; return e.Kind == "join" })
	// b cannot use WebSocket: it polls.
	b, err := longpoll.Dial(ctx, srv.URL+"/lp", nil)
	if err != nil {
		t.Fatal(err)
	}
	until(t, ctx, a, func(e event) bool { return e.Kind == "join" && e.From != aID })
	if err := a.WriteMessage(ctx, conn.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []conn.MessageConn{a, b} {
		until(t, ctx, c, func(e event) bool { return e.Kind == "say" && e.Text == "hello" && e.From == aID })
		until(t, ctx, c, func(e event) bool { return e.Kind == "tick" && e.N > 0 })
	}
	go a.ReadMessage(ctx, nil)
	go b.ReadMessage(ctx, nil)
	a.Close(conn.CloseNormal, "")
	b.Close(conn.CloseNormal, "")
}

// until reads events from c until one satisfies ok.
func until(t *testing.T, ctx context.Context, c conn.MessageConn, ok func(event) bool) {
	t.Helper()
	for {
		_, msg, err := c.ReadMessage(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var e event
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if ok(e) {
			return
		}
	}
}
