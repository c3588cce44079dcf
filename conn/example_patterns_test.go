package conn_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// ReadMessage appends into the buffer it is given and returns it: passing
// the last message back (buf = msg) reuses its memory, so a message that
// outlives the next read, here queued for another goroutine, must be
// copied first. Without the copy the queue would hold one buffer, rewritten
// by every read.
func ExampleConn_ReadMessage_retain() {
	done := make(chan []string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		queue := make(chan []byte, 16)
		go func() { // another goroutine keeps what the reader queued
			var kept []string
			for m := range queue {
				kept = append(kept, string(m))
			}
			done <- kept
		}()
		var buf []byte
		for {
			_, msg, err := c.ReadMessage(r.Context(), buf)
			if err != nil {
				close(queue)
				return
			}
			queue <- append([]byte(nil), msg...) // a copy: msg is reused below
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
	for _, m := range []string{"one", "two", "three"} {
		c.WriteMessage(ctx, conn.Text, []byte(m))
	}
	c.Close(conn.CloseNormal, "")
	fmt.Println(<-done)
	// Output: [one two three]
}

// Graceful shutdown: http.Server.Shutdown does not wait for hijacked
// connections, so the server tracks its own, tells each it is going away
// (1001) and waits for them, within the shutdown's deadline.
func ExampleConn_Close_shutdown() {
	var (
		mu    sync.Mutex
		conns = map[*conn.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	hs := httptest.NewServer(&conn.Handler{Serve: func(c *conn.Conn, r *http.Request) {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		defer wg.Done()
		for {
			if _, _, err := c.ReadMessage(context.Background(), nil); err != nil {
				return
			}
		}
	}})
	hs.Config.RegisterOnShutdown(func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close(conn.CloseGoingAway, "server shutting down")
		}
	})
	wg.Add(1)

	ctx := context.Background()
	c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteMessage(ctx, conn.Text, []byte("hello")) // the server has it once this is read
	for {
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}

	// The client reads on: it answers the server's close.
	closed := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(ctx, nil)
		closed <- err
	}()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hs.Config.Shutdown(sctx) // runs the hook; returns once no request is left
	wg.Wait()
	hs.Close()
	if ce, ok := errors.AsType[*conn.CloseError](<-closed); ok {
		fmt.Println(ce.Code, ce.Reason)
	}
	// Output: 1001 (going away) server shutting down
}

// Reconnect with backoff: a client that redials after losing its
// connection, waiting longer after each failure (with jitter, capped) and
// starting over after a success, until its context ends.
func ExampleDial_reconnect() {
	var accepted sync.WaitGroup
	accepted.Add(2)
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		try := tries.Add(1)
		if try%2 == 1 { // every other attempt fails, as a restarting server would
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.WriteMessage(r.Context(), conn.Text, []byte(fmt.Sprint("hello #", try/2)))
		c.Close(conn.CloseGoingAway, "restart") // then drop the client
		accepted.Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	backoff := func(failures int) time.Duration {
		d := 10 * time.Millisecond << min(failures, 8)               // capped: 2.56 s
		return d/2 + time.Duration(time.Now().UnixNano()%int64(d/2)) // jitter
	}
	failures, sessions := 0, 0
	for sessions < 2 && ctx.Err() == nil {
		c, err := conn.Dial(ctx, url, nil)
		if err != nil {
			failures++
			select {
			case <-time.After(backoff(failures)):
			case <-ctx.Done():
			}
			continue
		}
		failures = 0
		sessions++
		for { // the session: read until the connection ends
			_, msg, err := c.ReadMessage(ctx, nil)
			if err != nil {
				fmt.Println("lost:", conn.CloseStatus(err), errors.Is(err, conn.ErrClosed))
				break
			}
			fmt.Println(string(msg))
		}
	}
	accepted.Wait()
	// Output:
	// hello #1
	// lost: 1001 (going away) false
	// hello #2
	// lost: 1001 (going away) false
}
