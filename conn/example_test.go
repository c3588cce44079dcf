package conn_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"golang.org/x/net/http2"

	"github.com/pushwire/pushwire/conn"
)

// An echo server, and a client that sends one message and reads it back.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		var buf []byte
		for {
			typ, msg, err := c.ReadMessage(r.Context(), buf)
			if err != nil {
				return
			}
			if err := c.WriteMessage(r.Context(), typ, msg); err != nil {
				return
			}
			buf = msg
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteMessage(ctx, conn.Text, []byte("hello"))
	typ, msg, _ := c.ReadMessage(ctx, nil)
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(conn.CloseNormal, "bye"))
	// Output:
	// text hello
	// <nil>
}

// A server behind net/http that keeps nothing of net/http's per-request
// state while its connections are open: Serve runs on a goroutine of its
// own.
func ExampleHandler() {
	srv := httptest.NewServer(&conn.Handler{
		Serve: func(c *conn.Conn, r *http.Request) {
			ctx := context.Background() // r.Context() is done by now
			var buf []byte
			for {
				typ, msg, err := c.ReadMessage(ctx, buf)
				if err != nil {
					return
				}
				if err := c.WriteMessage(ctx, typ, msg); err != nil {
					return
				}
				buf = msg
			}
		},
	})
	defer srv.Close()

	ctx := context.Background()
	c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteMessage(ctx, conn.Text, []byte("hello"))
	typ, msg, _ := c.ReadMessage(ctx, nil)
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(conn.CloseNormal, "bye"))
	// Output:
	// text hello
	// <nil>
}

// A message streamed in pieces arrives as one.
func ExampleConn_NextWriter() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, msg, err := c.ReadMessage(r.Context(), nil)
		if err == nil {
			c.WriteMessage(r.Context(), conn.Text, []byte(fmt.Sprintf("got %d bytes", len(msg))))
		}
		c.Close(conn.CloseNormal, "")
	}))
	defer srv.Close()

	ctx := context.Background()
	c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := c.NextWriter(ctx, conn.Binary)
	for range 100 {
		w.Write(make([]byte, 1000))
	}
	w.Close()
	_, msg, _ := c.ReadMessage(ctx, nil)
	fmt.Println(string(msg))
	_, _, err = c.ReadMessage(ctx, nil)
	fmt.Println(conn.CloseStatus(err))
	// Output:
	// got 100000 bytes
	// 1000 (normal closure)
}

// A server that coalesces its writes answers a burst of messages with one
// system call; Flush sends what it holds when no read follows.
func ExampleOptions_coalesceWrites() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{Options: conn.Options{CoalesceWrites: true}})
		if err != nil {
			return
		}
		var buf []byte
		for {
			typ, msg, err := c.ReadMessage(r.Context(), buf)
			if err != nil {
				return
			}
			c.WriteMessage(r.Context(), typ, append(msg, '!'))
			if string(msg) == "last" {
				c.Flush(r.Context()) // no read follows: send it now, not at Close
				c.Close(conn.CloseNormal, "")
				return
			}
			buf = msg
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range []string{"one", "two", "last"} {
		c.WriteMessage(ctx, conn.Text, []byte(m))
	}
	for range 3 {
		_, msg, _ := c.ReadMessage(ctx, nil)
		fmt.Println(string(msg))
	}
	// Output:
	// one!
	// two!
	// last!
}

// A WebSocket as a stream of an HTTP/2 connection (RFC 8441): the server
// needs its process started with GODEBUG=http2xconnect=1, and the client a
// RoundTripper that sends extended CONNECT, such as x/net's. Dials sharing
// it share its connection; a server that does not offer it gets HTTP/1.1.
func ExampleDial_http2() {
	//lint:ignore SA1019 net/http's Transport cannot send extended CONNECT
	h2 := &http2.Transport{}
	ctx := context.Background()
	for range 3 {
		c, err := conn.Dial(ctx, "wss://example.com/ws", &conn.DialOptions{HTTP2: h2})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(conn.CloseNormal, "")
	}
}
