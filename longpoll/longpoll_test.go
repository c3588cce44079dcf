package longpoll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

var bg = context.Background()

// serve runs a handler whose sessions are given to fn.
func serve(t testing.TB, opts *Options, fn func(*Session)) (*Handler, *httptest.Server) {
	t.Helper()
	h := NewHandler(opts)
	srv := httptest.NewServer(h)
	go func() {
		for {
			s, err := h.Accept(bg)
			if err != nil {
				return
			}
			go fn(s)
		}
	}()
	t.Cleanup(func() { h.Close(); srv.Close() })
	return h, srv
}

func echo(s *Session) {
	var buf []byte
	for {
		typ, msg, err := s.ReadMessage(bg, buf)
		if err != nil {
			s.Close(conn.CloseNormal, "")
			return
		}
		if s.WriteMessage(bg, typ, msg) != nil {
			return
		}
		buf = msg
	}
}

func TestEcho(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, nil, echo)
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"hello", "", strings.Repeat("x", 100000), "\x00\xff"} {
		typ := conn.Text
		if i == 3 {
			typ = conn.Binary
		}
		if err := c.WriteMessage(bg, typ, []byte(want)); err != nil {
			t.Fatal(err)
		}
		gotTyp, got, err := c.ReadMessage(bg, nil)
		if err != nil || gotTyp != typ || string(got) != want {
			t.Fatalf("echo %d: %v %d bytes %v", i, gotTyp, len(got), err)
		}
	}
	if err := c.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(bg, nil); err == nil {
		t.Fatal("read after close succeeded")
	}
}

// A close from either side reaches the other with its code and reason.
func TestClose(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	got := make(chan error, 1)
	_, srv := serve(t, nil, func(s *Session) {
		_, _, err := s.ReadMessage(bg, nil)
		got <- err
	})
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(4001, "client leaves")
	err = <-got
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Code != 4001 || ce.Reason != "client leaves" || ce.Local {
		t.Fatalf("server read: %v", err)
	}

	_, srv2 := serve(t, nil, func(s *Session) {
		s.WriteMessage(bg, conn.Text, []byte("last"))
		s.Close(4002, "server leaves")
	})
	c, err = Dial(bg, srv2.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(bg, nil); err != nil || string(msg) != "last" {
		t.Fatalf("read: %q %v", msg, err)
	}
	_, _, err = c.ReadMessage(bg, nil)
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Code != 4002 || ce.Reason != "server leaves" {
		t.Fatalf("client read: %v", err)
	}
	c.Close(conn.CloseNormal, "")
}

func TestMessageCounts(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, nil, echo)
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	go func() {
		for i := range n {
			c.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "%d", i))
		}
	}()
	for i := range n {
		_, msg, err := c.ReadMessage(bg, nil)
		if err != nil || !bytes.Equal(msg, fmt.Appendf(nil, "%d", i)) {
			t.Fatalf("message %d: %q %v", i, msg, err)
		}
	}
	c.Close(conn.CloseNormal, "")
}

func TestHTTPErrors(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, &Options{MaxBody: 100}, echo)
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	rows := []struct {
		name, method, path, origin string
		body                       string
		want                       int
	}{
		{"unknown id", "GET", "/poll?id=00112233445566778899aabbccddeeff&ack=0", "", "", 404},
		{"no id", "GET", "/poll?ack=0", "", "", 404},
		{"bad ack", "GET", "/poll?id=" + c.ID() + "&ack=x", "", "", 400},
		{"poll by POST", "POST", "/poll?id=" + c.ID() + "&ack=0", "", "", 405},
		{"open by GET", "GET", "/open", "", "", 405},
		{"body too large", "POST", "/send?id=" + c.ID() + "&ack=0", "", strings.Repeat("x", 101), 413},
		{"malformed batch", "POST", "/send?id=" + c.ID() + "&ack=0", "", "\x01\x07\x00", 400},
		{"cross origin", "POST", "/open", "http://evil.example", "", 403},
		{"unknown op", "GET", "/nothing", "", "", 404},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
			if r.origin != "" {
				req.Header.Set("Origin", r.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != r.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, r.want)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	got := make(chan error, 1)
	_, srv := serve(t, &Options{Grace: 100 * time.Millisecond, Hold: 50 * time.Millisecond}, func(s *Session) {
		_, _, err := s.ReadMessage(bg, nil)
		got <- err
	})
	resp, err := http.Post(srv.URL+"/open", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Never poll.
	select {
	case err := <-got:
		if conn.CloseStatus(err) != conn.CloseAbnormal {
			t.Fatalf("read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session did not expire")
	}
}

// The queue bound: a writer waits, or fails, by option.
func TestQueueBound(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, failFast := range []bool{false, true} {
		sessions := make(chan *Session, 1)
		_, srv := serve(t, &Options{MaxQueue: 3, FailWhenFull: failFast}, func(s *Session) { sessions <- s })
		resp, err := http.Post(srv.URL+"/open", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := <-sessions
		for range 3 {
			if err := s.WriteMessage(bg, conn.Text, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
		err = s.WriteMessage(ctx, conn.Text, []byte("x"))
		cancel()
		want := context.DeadlineExceeded
		if failFast {
			want = ErrQueueFull
		}
		if !errors.Is(err, want) {
			t.Fatalf("failFast=%v: %v, want %v", failFast, err, want)
		}
		s.expire(nil)
	}
}

// WritePrepared queues a batch in order, waiting for room as the client's
// polls make it; a message WriteMessage would refuse fails the whole call,
// with nothing of it queued; a context that ends leaves queued what fit.
func TestWritePrepared(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	prepare := func(typ conn.MessageType, p string) *conn.PreparedMessage {
		pm, err := conn.NewPreparedMessage(typ, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		return pm
	}
	var batch []*conn.PreparedMessage
	for i := range 10 {
		batch = append(batch, prepare(conn.MessageType(1+i%2), fmt.Sprint(i)))
	}
	errs := make(chan error, 3)
	_, srv := serve(t, &Options{MaxQueue: 4}, func(s *Session) {
		errs <- s.WritePrepared(bg, batch...)
		errs <- s.WritePrepared(bg, prepare(conn.Text, "never"), prepare(conn.Text, "\xff"))
		errs <- s.WritePrepared(bg, prepare(conn.Binary, "last"))
		s.Close(conn.CloseNormal, "")
	})
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	for i, pm := range append(batch, prepare(conn.Binary, "last")) {
		typ, msg, err := c.ReadMessage(bg, nil)
		if err != nil || typ != pm.Type() || string(msg) != string(pm.Payload()) {
			t.Fatalf("message %d: %v %q %v, want %v %q", i, typ, msg, err, pm.Type(), pm.Payload())
		}
	}
	for i, want := range []error{nil, errUTF8, nil} {
		if err := <-errs; err != want {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}

	sessions := make(chan *Session, 1)
	_, srv2 := serve(t, &Options{MaxQueue: 4}, func(s *Session) { sessions <- s })
	_, s := open(t, srv2.URL, sessions)
	defer s.expire(nil)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if err := s.WritePrepared(ctx, batch[:6]...); err != context.DeadlineExceeded {
		t.Fatalf("6 messages into a queue of 4 nobody polls: %v", err)
	}
	if recs := s.pendingAfter(0, 100); len(recs) != 4 || string(recs[3].data) != "3" {
		t.Fatalf("queued %d records, want the first 4", len(recs))
	}
}
