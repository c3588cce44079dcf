package longpoll

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// open opens a session by hand and returns its id and the server's side.
func open(t *testing.T, url string, sessions <-chan *Session) (string, *Session) {
	t.Helper()
	resp, err := http.Post(url+"/open", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply openReply
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if len(reply.ID) < 32 {
		t.Fatalf("id %q has fewer than 128 bits", reply.ID)
	}
	return reply.ID, <-sessions
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// An expired id and one that never existed get the same answer.
func TestUnknownAndExpiredAlike(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{Hold: 20 * time.Millisecond, Grace: 50 * time.Millisecond}, func(s *Session) { sessions <- s })
	id, s := open(t, srv.URL, sessions)
	_, _, err := s.ReadMessage(bg, nil)
	if ce, ok := err.(*conn.CloseError); !ok || ce.Code != conn.CloseAbnormal || ce.Err != ErrExpired {
		t.Fatalf("expired session read: %v", err)
	}
	never := strings.Repeat("0", len(id))
	var answers []string
	for _, id := range []string{id, never} {
		for _, op := range []string{"poll", "send"} {
			req, _ := http.NewRequest(map[string]string{"poll": "GET", "send": "POST"}[op], srv.URL+"/"+op+"?ack=0&id="+id, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers = append(answers, resp.Status+" "+string(b))
		}
	}
	if answers[0] != answers[2] || answers[1] != answers[3] || !strings.HasPrefix(answers[0], "404") {
		t.Fatalf("answers differ:\n%s", strings.Join(answers, "\n"))
	}
}

// A second poll for a session answers the first at once, empty; the second
// gets the messages.
func TestSecondPollAnswersFirst(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{Hold: 10 * time.Second}, func(s *Session) { sessions <- s })
	id, s := open(t, srv.URL, sessions)
	type answer struct {
		status int
		body   string
		at     time.Time
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	poll := func(ch chan answer) {
		code, body, _ := get(t, srv.URL+"/poll?ack=0&id="+id)
		ch <- answer{code, body, time.Now()}
	}
	go poll(first)
	waitPolls(t, s, 1)
	start := time.Now()
	go poll(second)
	a := <-first
	if a.status != 200 || a.body != "" || a.at.Sub(start) > 2*time.Second {
		t.Fatalf("first poll: %d %q after %v", a.status, a.body, a.at.Sub(start))
	}
	waitPolls(t, s, 1)
	if err := s.WriteMessage(bg, conn.Text, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if b := <-second; b.status != 200 || b.body != "\x01\x01\x02hi" {
		t.Fatalf("second poll: %d %q", b.status, b.body)
	}
	s.expire(nil)
}

// waitPolls waits until n polls of s are held.
func waitPolls(t *testing.T, s *Session, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.pmu.Lock()
		polls := s.polls
		s.pmu.Unlock()
		if polls == n {
			return
		}
	}
	t.Fatalf("not %d polls held", n)
}

// Every protocol answer carries Cache-Control: no-store, and CORS headers
// only when configured.
func TestHeaders(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, cors := range []bool{false, true} {
		sessions := make(chan *Session, 1)
		_, srv := serve(t, &Options{Hold: 10 * time.Millisecond, CORS: cors, OriginPatterns: []string{"*.example.com"}}, func(s *Session) { sessions <- s })
		id, s := open(t, srv.URL, sessions)
		for _, row := range []struct{ method, path, body string }{
			{"POST", "/open", ""},
			{"GET", "/poll?ack=0&id=" + id, ""},
			{"POST", "/send?ack=0&id=" + id, "\x01\x01\x01x"},
			{"GET", "/poll?ack=0&id=nope", ""},
			{"OPTIONS", "/send?ack=0&id=" + id, ""},
		} {
			req, _ := http.NewRequest(row.method, srv.URL+row.path, strings.NewReader(row.body))
			req.Header.Set("Origin", "https://app.example.com")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", row.method, row.path, got)
			}
			acao := resp.Header.Get("Access-Control-Allow-Origin")
			if cors && acao != "https://app.example.com" || !cors && acao != "" {
				t.Errorf("cors=%v %s %s: Access-Control-Allow-Origin %q", cors, row.method, row.path, acao)
			}
		}
		s.expire(nil)
	}
}

func TestOrigin(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, row := range []struct {
		name   string
		opts   Options
		origin string
		host   string
		want   int
	}{
		{"no origin", Options{}, "", "", 200},
		{"same origin", Options{}, "http://SERVER", "", 200},
		{"cross origin", Options{}, "http://evil.example", "", 403},
		{"null origin", Options{}, "null", "", 403},
		{"port differs", Options{}, "http://HOSTONLY:1", "", 403},
		{"allowed pattern", Options{OriginPatterns: []string{"*.example.com"}}, "https://a.example.com", "", 200},
		{"pattern misses", Options{OriginPatterns: []string{"*.example.com"}}, "https://example.com", "", 403},
		{"custom check allows", Options{CheckOrigin: func(*http.Request) bool { return true }}, "http://evil.example", "", 200},
		{"custom check refuses", Options{CheckOrigin: func(*http.Request) bool { return false }}, "", "", 403},
		{"host header decides", Options{}, "http://front.example", "front.example", 200},
	} {
		t.Run(row.name, func(t *testing.T) {
			sessions := make(chan *Session, 1)
			_, srv := serve(t, &row.opts, func(s *Session) { sessions <- s; s.expire(nil) })
			hostport := strings.TrimPrefix(srv.URL, "http://")
			origin := strings.ReplaceAll(row.origin, "SERVER", hostport)
			origin = strings.ReplaceAll(origin, "HOSTONLY", strings.Split(hostport, ":")[0])
			req, _ := http.NewRequest("POST", srv.URL+"/open", nil)
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			if row.host != "" {
				req.Host = row.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != row.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, row.want)
			}
		})
	}
}

// Bodies the server must refuse, and what it answers.
func TestBadRequests(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{Hold: 10 * time.Millisecond, MaxBody: 1000}, func(s *Session) { sessions <- s })
	id, s := open(t, srv.URL, sessions)
	defer s.expire(nil)
	for _, row := range []struct {
		name, method, query, body string
		want                      int
	}{
		{"ok", "POST", "ack=0", "\x01\x01\x01x", 204},
		{"duplicate", "POST", "ack=0", "\x01\x01\x01x", 204},
		{"gap is not taken", "POST", "ack=0", "\x05\x01\x01x", 204},
		{"body at the limit", "POST", "ack=0", "\x02\x02\xe4\x07" + strings.Repeat("b", 996), 204},
		{"body over the limit", "POST", "ack=0", "\x03\x02\xe5\x07" + strings.Repeat("b", 997), 413},
		{"unknown kind", "POST", "ack=0", "\x03\x09\x00", 400},
		{"truncated", "POST", "ack=0", "\x03\x01\x05ab", 400},
		{"text not UTF-8", "POST", "ack=0", "\x03\x01\x01\xff", 400},
		{"bad close code", "POST", "ack=0", "\x03\x08\x02\x03\xed", 400},
		{"ack of unsent", "POST", "ack=1", "", 400},
		{"ack not a number", "GET", "ack=-1", "", 400},
		{"poll ack of unsent", "GET", "ack=7", "", 400},
		{"poll by POST", "PUT", "ack=0", "", 405},
	} {
		t.Run(row.name, func(t *testing.T) {
			op := "/send?"
			if row.method == "GET" {
				op = "/poll?"
			}
			req, _ := http.NewRequest(row.method, srv.URL+op+row.query+"&id="+id, strings.NewReader(row.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != row.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, row.want)
			}
		})
	}
	// The session took exactly the two good messages, in order.
	for _, want := range []string{"x", strings.Repeat("b", 996)} {
		if _, msg, err := s.ReadMessage(bg, nil); err != nil || string(msg) != want {
			t.Fatalf("read %q, %v", msg, err)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{MaxQueueBytes: 10}, func(s *Session) { sessions <- s })
	_, s := open(t, srv.URL, sessions)
	defer s.expire(nil)
	for _, row := range []struct {
		name string
		typ  conn.MessageType
		msg  string
		want error
	}{
		{"too big", conn.Binary, "12345678901", ErrTooBig},
		{"bad type", 3, "x", errMessageType},
		{"text not UTF-8", conn.Text, "\xff", errUTF8},
		{"fits", conn.Text, "1234567890", nil},
	} {
		if err := s.WriteMessage(bg, row.typ, []byte(row.msg)); err != row.want {
			t.Errorf("%s: %v, want %v", row.name, err, row.want)
		}
	}
	if err := s.Close(1005, ""); err != errCloseCode {
		t.Errorf("close 1005: %v", err)
	}
}

// TestCloseUnpolled: Close does not wait the whole hold for the ack of a
// client that no longer polls (gone to another node): it ends the session
// once no poll came for a second.
func TestCloseUnpolled(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{Hold: time.Hour, Grace: time.Hour}, func(s *Session) { sessions <- s })
	_, s := open(t, srv.URL, sessions) // and never polled
	closed := make(chan error, 1)
	go func() { closed <- s.Close(conn.CloseGoingAway, "moving") }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the ack of a client that never polls")
	}
	if _, _, err := s.ReadMessage(bg, nil); err == nil {
		t.Fatal("the session is still open after Close")
	}
}
