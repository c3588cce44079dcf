package longpoll

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/proxytest"
)

// counting is an application that can resume: a session's first message
// is "from N", and it sends N+1, N+2, ... up to total. What clients send it
// after that is noted in got.
type counting struct {
	total int
	mu    sync.Mutex
	got   map[string]int
}

func (a *counting) serve(s *Session) {
	_, first, err := s.ReadMessage(bg, nil)
	if err != nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(first), "from "))
	if err != nil {
		s.Close(conn.CloseProtocolError, "want from N")
		return
	}
	go func() {
		for {
			_, msg, err := s.ReadMessage(bg, nil)
			if err != nil {
				return
			}
			a.mu.Lock()
			a.got[string(msg)]++
			a.mu.Unlock()
		}
	}()
	for k := n + 1; k <= a.total; k++ {
		if s.WriteMessage(bg, conn.Text, []byte(strconv.Itoa(k))) != nil {
			return
		}
	}
}

// A client whose polls and sends alternate between two nodes, each request
// on the node the previous one did not reach, gets every message once and
// in order, and every message it sends arrives once: each request opens a
// session on a node that does not know its own, from the records its
// Pushwire-Resume header carries. Without Adopt the first poll finds no
// session and the client ends.
func TestRoundRobinAdopt(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, adopt := range []bool{true, false} {
		t.Run(fmt.Sprintf("adopt=%v", adopt), func(t *testing.T) {
			const total, sends = 3000, 200
			app := &counting{total: total, got: map[string]int{}}
			var accepted atomic.Int64
			var nodes []*Handler
			var hs []http.Handler
			for range 2 {
				h, _ := serve(t, &Options{Adopt: adopt, Hold: time.Second}, func(s *Session) {
					accepted.Add(1)
					app.serve(s)
				})
				hs = append(hs, h)
				nodes = append(nodes, h)
			}
			front := httptest.NewServer(proxytest.NewRoundRobin(hs...))
			defer front.Close()
			var last atomic.Int64
			resume := func([][]byte) [][]byte { return [][]byte{fmt.Appendf(nil, "from %d", last.Load())} }
			c, err := Dial(bg, front.URL, &DialOptions{Resume: resume})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			// Without Adopt the session may have ended already: the read
			// below says how.
			if err := c.WriteMessage(bg, conn.Text, []byte("from 0")); err != nil && adopt {
				t.Fatal(err)
			}
			go func() {
				for i := range sends {
					if c.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "c%d", i)) != nil {
						return
					}
				}
			}()
			var buf []byte
			for last.Load() < total {
				ctx, cancel := context.WithTimeout(bg, 20*time.Second)
				_, msg, err := c.ReadMessage(ctx, buf)
				cancel()
				if !adopt {
					if ce, ok := errors.AsType[*conn.CloseError](err); !ok || !errors.Is(ce.Err, ErrExpired) {
						t.Fatalf("without Adopt: %v, want the session expired", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("after %d: %v", last.Load(), err)
				}
				k, _ := strconv.Atoi(string(msg))
				switch {
				case int64(k) <= last.Load():
					// The new session's replay: the application drops it.
				case int64(k) != last.Load()+1:
					t.Fatalf("got %d after %d", k, last.Load())
				default:
					last.Add(1)
				}
				buf = msg
			}
			if !adopt {
				t.Fatal("without Adopt the client received everything")
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				app.mu.Lock()
				missing := 0
				for i := range sends {
					if app.got[fmt.Sprintf("c%d", i)] == 0 {
						missing++
					}
				}
				app.mu.Unlock()
				if missing == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of the client's %d messages never arrived", missing, sends)
				}
			}
			app.mu.Lock()
			dup := 0
			for _, n := range app.got {
				dup += n - 1
			}
			app.mu.Unlock()
			held := 0
			for _, h := range nodes {
				h.mu.Lock()
				held += len(h.sessions)
				h.mu.Unlock()
			}
			t.Logf("%d sessions over two nodes for %d messages, %d still held; of the client's %d messages, %d arrived twice", accepted.Load(), total, held, sends, dup)
			if accepted.Load() < 3 {
				t.Errorf("%d sessions: the requests did not roam", accepted.Load())
			}
			// The sessions left behind are let go (Pushwire-Left), not kept
			// for their grace period: the current one, and those whose
			// node has not had a request since.
			if held > 1+maxLeft {
				t.Errorf("%d sessions held at the end", held)
			}
			// No answer is lost here: what a session the client left took
			// counts as arrived, and goes nowhere again.
			if dup > 0 {
				t.Errorf("%d of the client's messages arrived twice", dup)
			}
		})
	}
}

// A Pushwire-Resume header that is not a batch from sequence 1, or ends
// with a close, is answered 400; one past MaxBody 413; and without Adopt,
// any is ignored (404).
func TestAdoptBadResume(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	batch := func(recs ...record) string { return base64.RawURLEncoding.EncodeToString(appendBatch(nil, recs)) }
	text := func(seq uint64, s string) record { return record{kind: kindText, seq: seq, data: []byte(s)} }
	rows := []struct {
		name   string
		adopt  bool
		resume string
		want   int
	}{
		{"good", true, batch(text(1, "from 0")), http.StatusOK},
		{"not base64", true, "!!", http.StatusBadRequest},
		{"padded base64", true, base64.URLEncoding.EncodeToString(appendBatch(nil, []record{text(1, "x")})), http.StatusBadRequest},
		{"from 2", true, batch(text(2, "from 0")), http.StatusBadRequest},
		{"malformed", true, base64.RawURLEncoding.EncodeToString([]byte{1, 1, 5, 'a'}), http.StatusBadRequest},
		{"ends with a close", true, batch(text(1, "x"), closeRecord(2, conn.CloseNormal, "")), http.StatusBadRequest},
		{"over MaxBody", true, batch(text(1, strings.Repeat("x", 2048))), http.StatusRequestEntityTooLarge},
		{"no Adopt", false, batch(text(1, "from 0")), http.StatusNotFound},
		{"bad ack", true, batch(text(1, "from 0")), http.StatusBadRequest},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var accepted atomic.Int32
			_, srv := serve(t, &Options{Adopt: r.adopt, Hold: 10 * time.Millisecond, MaxBody: 1024}, func(s *Session) {
				accepted.Add(1)
				s.ReadMessage(bg, nil)
			})
			ack := "7"
			if r.name == "bad ack" {
				ack = "x" // answered 400 once, not adopted after
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/poll?id=0123&ack="+ack, nil)
			req.Header.Set("Pushwire-Resume", r.resume)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != r.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, r.want)
			}
			if got := resp.Header.Get("Pushwire-Session"); (got != "") != (r.want == http.StatusOK) {
				t.Fatalf("Pushwire-Session %q with status %d", got, resp.StatusCode)
			}
			time.Sleep(50 * time.Millisecond) // Accept's side runs apart
			if n := accepted.Load(); (n == 1) != (r.want == http.StatusOK) {
				t.Fatalf("%d sessions opened with status %d", n, resp.StatusCode)
			}
		})
	}
}

// The JavaScript client behind the same balancer: every number once and in
// order, and every message of its own once.
func TestJSClientRoaming(t *testing.T) {
	node := lookNode(t)
	t.Cleanup(leaktest.Check(t))
	const total, sends = 2000, 100
	app := &counting{total: total, got: map[string]int{}}
	var hs []http.Handler
	for range 2 {
		h, _ := serve(t, &Options{Adopt: true}, app.serve)
		hs = append(hs, h)
	}
	front := httptest.NewServer(proxytest.NewRoundRobin(hs...))
	defer front.Close()
	var got struct {
		Received int    `json:"received"`
		Bad      string `json:"bad"`
		Code     int    `json:"code"`
		Error    string `json:"error"`
	}
	runJS(t, node, front.URL, "roam", fmt.Sprintf(`{"n": %d, "m": %d}`, total, sends), &got)
	if got.Error != "" || got.Bad != "" || got.Received != total || got.Code != 4000 {
		t.Fatalf("JavaScript client: %+v, want %d numbers in order and a close with 4000", got, total)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	for i := range sends {
		if n := app.got[fmt.Sprintf("c%d", i)]; n != 1 {
			t.Errorf("the client's message c%d arrived %d times", i, n)
		}
	}
}

// Resume is given what the application has not finished with: the
// messages ReadMessage has not returned, and the last one it returned.
func TestResumeUnread(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, &Options{Adopt: true}, func(s *Session) {
		for _, m := range []string{"a", "b", "c"} {
			s.WriteMessage(bg, conn.Text, []byte(m))
		}
		s.ReadMessage(bg, nil) // until the client closes
	})
	unread := make(chan []string, 16)
	c, err := Dial(bg, srv.URL, &DialOptions{Resume: func(msgs [][]byte) [][]byte {
		var got []string
		for _, m := range msgs {
			got = append(got, string(m))
		}
		select {
		case unread <- got:
		default: // full: check reads all while it waits, and more come
		}
		return [][]byte{[]byte("resume")}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	for deadline := time.Now().Add(5 * time.Second); c.received() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the messages never arrived")
		}
	}
	// want is what the Resume of the next send sees. A poll may have
	// collected what was unread before the last read and call Resume after
	// it: such a value is let pass, and want must come.
	check := func(want string) {
		t.Helper()
		if err := c.WriteMessage(bg, conn.Text, []byte("x")); err != nil {
			t.Fatal(err)
		}
		var seen []string
		timeout := time.After(5 * time.Second)
		for {
			select {
			case got := <-unread:
				if strings.Join(got, ",") == want {
					return
				}
				seen = append(seen, strings.Join(got, ","))
			case <-timeout:
				t.Fatalf("no request saw unread %q; seen %q", want, seen)
			}
		}
	}
	check("a,b,c")
	if _, msg, err := c.ReadMessage(bg, nil); err != nil || string(msg) != "a" {
		t.Fatalf("read %q, %v", msg, err)
	}
	check("a,b,c") // a is read, but the application may not be done with it
	if _, msg, err := c.ReadMessage(bg, nil); err != nil || string(msg) != "b" {
		t.Fatalf("read %q, %v", msg, err)
	}
	check("b,c")
}
