package longpoll_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// An echo server: the handler serves the protocol and client.js under /lp/,
// and each session it accepts is a conn.MessageConn.
func ExampleNewHandler() {
	h := longpoll.NewHandler(&longpoll.Options{MaxBody: 64 << 10})
	defer h.Close()
	go func() {
		for {
			s, err := h.Accept(context.Background())
			if err != nil {
				return // the handler was closed
			}
			go echo(s)
		}
	}()
	http.Handle("/lp/", h) // a page loads /lp/client.js
}

func echo(c conn.MessageConn) {
	ctx := context.Background()
	var buf []byte
	for {
		typ, msg, err := c.ReadMessage(ctx, buf)
		if err != nil {
			c.Close(conn.CloseNormal, "")
			return
		}
		if err := c.WriteMessage(ctx, typ, msg); err != nil {
			return
		}
		buf = msg
	}
}

func ExampleDial() {
	h := longpoll.NewHandler(nil)
	defer h.Close()
	go func() {
		s, err := h.Accept(context.Background())
		if err == nil {
			echo(s)
		}
	}()
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx := context.Background()
	c, err := longpoll.Dial(ctx, srv.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "done")
	if err := c.WriteMessage(ctx, conn.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.ReadMessage(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", msg)
	// Output: hello
}

// WebSocket where it gets through, long polling where it does not.
func ExampleDialFallback() {
	ctx := context.Background()
	c, err := longpoll.DialFallback(ctx, "wss://example.com/ws", "https://example.com/lp", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	switch c.(type) {
	case *conn.Conn:
		fmt.Println("WebSocket")
	case *longpoll.Client:
		fmt.Println("long polling")
	}
}

// A session that opens on long polling, the quickest first message, and
// moves to a WebSocket: the handler offers the upgrade, the client takes
// it, and neither side's messages notice.
func ExampleClient_Upgraded() {
	h := longpoll.NewHandler(&longpoll.Options{Upgrade: &conn.AcceptOptions{}})
	defer h.Close()
	go func() {
		s, err := h.Accept(context.Background())
		if err == nil {
			echo(s)
		}
	}()
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx := context.Background()
	c, err := longpoll.Dial(ctx, srv.URL, &longpoll.DialOptions{Upgrade: &conn.DialOptions{}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "done")
	for !c.Upgraded() {
		time.Sleep(time.Millisecond)
	}
	if err := c.WriteMessage(ctx, conn.Text, []byte("over the WebSocket")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.ReadMessage(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", msg)
	// Output: over the WebSocket
}
