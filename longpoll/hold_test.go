package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// pollLog stands in front of a handler and notes each poll it answered.
type pollLog struct {
	next  http.Handler
	mu    sync.Mutex
	polls []pollNote
}

type pollNote struct {
	took   time.Duration
	status int
	empty  bool // a 200 without a record
}

func (l *pollLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if path.Base(r.URL.Path) != "poll" {
		l.next.ServeHTTP(w, r)
		return
	}
	nw := &notingWriter{ResponseWriter: w}
	start := time.Now()
	l.next.ServeHTTP(nw, r)
	note := pollNote{took: time.Since(start), status: nw.status, empty: nw.status == http.StatusOK && nw.n == 0}
	l.mu.Lock()
	l.polls = append(l.polls, note)
	l.mu.Unlock()
}

// wait returns the first n polls answered, once there are n.
func (l *pollLog) wait(t *testing.T, n int) []pollNote {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		polls := slices.Clone(l.polls)
		l.mu.Unlock()
		if len(polls) >= n {
			return polls[:n]
		}
	}
	t.Fatalf("fewer than %d polls answered", n)
	return nil
}

func (l *pollLog) all() []pollNote {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.polls)
}

// notingWriter notes an answer's status and size.
type notingWriter struct {
	http.ResponseWriter
	status, n int
}

func (w *notingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return w.ResponseWriter.Write(p)
}

func (w *notingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// timed serves h behind a pollLog.
func timed(t *testing.T, h *Handler) (*pollLog, *httptest.Server) {
	l := &pollLog{next: h}
	srv := httptest.NewServer(l)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return l, srv
}

// The hold a client proposes, and plain polling. The subtests run side by
// side: the proxy's takes 15 s, mostly waiting.
func TestHold(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, tt := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"BehindProxy", testHoldBehindProxy},
		{"Granted", testHoldGranted},
		{"JSClient", testJSClientHold},
		{"JSClientBadOptions", testJSClientBadOptions},
		{"PlainPolling", testPlainPolling},
		{"PlainPollingGrace", testPlainPollingGrace},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

// The hold a Go client proposes is granted up to the server's most, and
// both sides hold polls for what was granted.
func testHoldGranted(t *testing.T) {
	const most = 400 * time.Millisecond
	for _, row := range []struct{ propose, want time.Duration }{
		{0, most}, // the server's
		{150 * time.Millisecond, 150 * time.Millisecond},
		{2 * time.Second, most},
		{100*time.Millisecond + time.Microsecond, 101 * time.Millisecond}, // whole milliseconds, up
	} {
		t.Run(row.propose.String(), func(t *testing.T) {
			t.Parallel()
			sessions := make(chan *Session, 1)
			h, _ := serve(t, &Options{Hold: most}, func(s *Session) { sessions <- s })
			log, srv := timed(t, h)
			c, err := Dial(bg, srv.URL, &DialOptions{Hold: row.propose})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			s := <-sessions
			if c.hold != row.want || s.hold != row.want || c.interval != 0 || s.interval != 0 {
				t.Fatalf("client hold %v interval %v, session hold %v interval %v; want hold %v", c.hold, c.interval, s.hold, s.interval, row.want)
			}
			// Nothing to send: the first poll is answered empty after the hold.
			p := log.wait(t, 1)[0]
			if !p.empty || p.took < row.want {
				t.Fatalf("first poll: %d, empty %v, after %v; want empty after %v", p.status, p.empty, p.took, row.want)
			}
		})
	}
}

// The open request's proposal: granted, clamped or refused, as the
// package doc says.
func TestOpenProposal(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, &Options{Hold: 8 * time.Second, Grace: 10 * time.Second}, func(s *Session) { s.expire(nil) })
	const past64 = "99999999999999999999999"
	for _, row := range []struct {
		query          string
		status         int
		hold, interval int64  // granted, ms
		err            string // in the 400's body
	}{
		{"", 200, 8000, 0, ""},
		{"hold=4000", 200, 4000, 0, ""},
		{"hold=1", 200, 1, 0, ""},
		{"hold=8000", 200, 8000, 0, ""},
		{"hold=8001", 200, 8000, 0, ""},
		{"hold=" + past64, 200, 8000, 0, ""},
		{"hold=0&interval=250", 200, 0, 250, ""},
		{"hold=0&interval=5000", 200, 0, 5000, ""},
		{"hold=0&interval=5001", 200, 0, 5000, ""}, // half the grace at most
		{"hold=0&interval=" + past64, 200, 0, 5000, ""},
		{"hold=-1", 400, 0, 0, "bad hold"},
		{"hold=abc", 400, 0, 0, "bad hold"},
		{"hold=", 400, 0, 0, "bad hold"},
		{"hold=1.5", 400, 0, 0, "bad hold"},
		{"hold=+5", 400, 0, 0, "bad hold"},
		{"hold=0", 400, 0, 0, "hold=0 needs an interval"},
		{"hold=0&interval=0", 400, 0, 0, "bad interval"},
		{"hold=0&interval=-100", 400, 0, 0, "bad interval"},
		{"hold=0&interval=x", 400, 0, 0, "bad interval"},
		{"interval=100", 400, 0, 0, "only with hold=0"},
		{"hold=100&interval=100", 400, 0, 0, "only with hold=0"},
	} {
		t.Run(row.query, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/open?"+row.query, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != row.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, row.status)
			}
			if row.status != http.StatusOK {
				if !strings.Contains(string(body), row.err) {
					t.Fatalf("body %q does not say %q", body, row.err)
				}
				return
			}
			var reply openReply
			if err := json.Unmarshal(body, &reply); err != nil {
				t.Fatal(err)
			}
			if reply.Hold != row.hold || reply.Interval != row.interval || reply.Grace != 10000 {
				t.Fatalf("granted %s, want hold %d interval %d", body, row.hold, row.interval)
			}
		})
	}
}

// Dial refuses a proposal it cannot make, before any request.
func TestDialProposalErrors(t *testing.T) {
	noRequest := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("a request was made: %s", r.URL)
		return nil, errors.New("no")
	})}
	for _, opts := range []DialOptions{
		{Hold: -time.Second},
		{PollInterval: -time.Second},
		{Hold: time.Second, PollInterval: time.Second},
	} {
		opts.HTTPClient = noRequest
		if _, err := Dial(bg, "http://127.0.0.1:1/lp", &opts); err == nil {
			t.Errorf("hold %v, interval %v: no error", opts.Hold, opts.PollInterval)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cutter is a proxy that cuts every request its target holds longer than
// after with 504, as load balancers cut idle requests, and counts the cuts
// by session.
type cutter struct {
	proxy *httputil.ReverseProxy
	after time.Duration
	mu    sync.Mutex
	cuts  map[string]int
}

func newCutter(target string, after time.Duration) *cutter {
	u, _ := url.Parse(target)
	c := &cutter{proxy: httputil.NewSingleHostReverseProxy(u), after: after, cuts: map[string]int{}}
	c.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, context.DeadlineExceeded) {
			c.mu.Lock()
			c.cuts[r.URL.Query().Get("id")]++
			c.mu.Unlock()
		}
		w.WriteHeader(http.StatusGatewayTimeout)
	}
	return c
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), c.after)
	defer cancel()
	c.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func (c *cutter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cuts[id]
}

// Behind a proxy that cuts requests held 5 s, a client that proposed a 4 s
// hold stays idle 15 s and then talks both ways; one that took the
// server's 8 s has every idle poll cut and gives up after the grace
// period.
func testHoldBehindProxy(t *testing.T) {
	sessions := make(chan *Session, 2)
	_, srv := serve(t, &Options{Hold: 8 * time.Second, Grace: 10 * time.Second}, func(s *Session) { sessions <- s })
	cut := newCutter(srv.URL, 5*time.Second)
	proxy := httptest.NewServer(cut)
	defer proxy.Close()

	proposed, err := Dial(bg, proxy.URL, &DialOptions{Hold: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer proposed.Close(conn.CloseNormal, "")
	s := <-sessions
	plain, err := Dial(bg, proxy.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(conn.CloseNormal, "")
	<-sessions
	if proposed.hold != 4*time.Second || plain.hold != 8*time.Second {
		t.Fatalf("holds %v and %v, want 4s and 8s", proposed.hold, plain.hold)
	}

	time.Sleep(15 * time.Second)

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	_, _, err = plain.ReadMessage(ctx, nil)
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Err != ErrExpired {
		t.Fatalf("the client of the server's hold read %v, want it expired", err)
	}
	if n := cut.count(plain.ID()); n < 2 {
		t.Fatalf("the proxy cut %d polls of the server's hold, want every idle one", n)
	}
	t.Logf("the proxy cut %d polls of the server's hold", cut.count(plain.ID()))
	if n := cut.count(proposed.ID()); n != 0 {
		t.Fatalf("the proxy cut %d polls of the proposed hold", n)
	}
	if err := s.WriteMessage(ctx, conn.Text, []byte("down")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := proposed.ReadMessage(ctx, nil); err != nil || string(msg) != "down" {
		t.Fatalf("client read %q %v", msg, err)
	}
	if err := proposed.WriteMessage(ctx, conn.Text, []byte("up")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := s.ReadMessage(ctx, nil); err != nil || string(msg) != "up" {
		t.Fatalf("session read %q %v", msg, err)
	}
}

// Plain polling: 2,000 messages each way, written in bursts, arrive once
// and in order; a message waits for the next poll, about an interval at
// most. An idle client keeps polling, each poll answered at once.
func testPlainPolling(t *testing.T) {
	const (
		n        = 2000
		burst    = 20
		interval = 100 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second) // a hang guard
	defer cancel()
	sessions := make(chan *Session, 1)
	h, _ := serve(t, nil, func(s *Session) { sessions <- s })
	log, srv := timed(t, h)
	c, err := Dial(ctx, srv.URL, &DialOptions{PollInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	s := <-sessions
	if c.hold != 0 || s.hold != 0 || c.interval != interval || s.interval != interval {
		t.Fatalf("client hold %v interval %v, session hold %v interval %v", c.hold, c.interval, s.hold, s.interval)
	}

	// Each message carries its number and when it was written.
	send := func(w conn.MessageConn) error {
		for i := range n {
			if i%burst == 0 {
				time.Sleep(7 * time.Millisecond) // out of step with the polls
			}
			if err := w.WriteMessage(ctx, conn.Text, fmt.Appendf(nil, "%d %d", i, time.Now().UnixNano())); err != nil {
				return err
			}
		}
		return nil
	}
	receive := func(r conn.MessageConn) ([]time.Duration, error) {
		var lat []time.Duration
		var buf []byte
		for i := range n {
			_, msg, err := r.ReadMessage(ctx, buf)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			now := time.Now()
			num, at, _ := strings.Cut(string(msg), " ")
			ns, _ := strconv.ParseInt(at, 10, 64)
			if num != strconv.Itoa(i) {
				return nil, fmt.Errorf("got message %s, want %d", num, i)
			}
			lat = append(lat, now.Sub(time.Unix(0, ns)))
			buf = msg
		}
		return lat, nil
	}
	sent := make(chan error, 2)
	go func() { sent <- send(s) }()
	go func() { sent <- send(c) }()
	type result struct {
		lat []time.Duration
		err error
	}
	up := make(chan result, 1)
	go func() { lat, err := receive(s); up <- result{lat, err} }()
	downLat, err := receive(c)
	if err != nil {
		t.Fatal(err)
	}
	upRes := <-up
	if upRes.err != nil {
		t.Fatal(upRes.err)
	}
	for range 2 {
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		lat  []time.Duration
	}{{"server to client", downLat}, {"client to server", upRes.lat}} {
		slices.Sort(d.lat)
		t.Logf("%s, polled every %v: latency median %v, 99th %v, max %v", d.name, interval,
			d.lat[len(d.lat)/2].Round(100*time.Microsecond), d.lat[len(d.lat)*99/100].Round(100*time.Microsecond), d.lat[len(d.lat)-1].Round(100*time.Microsecond))
	}

	// Nothing more (no duplicate), and the idle client's polls are answered
	// at once, empty.
	before := len(log.all())
	quiet, stop := context.WithTimeout(ctx, 5*interval)
	defer stop()
	for _, r := range []conn.MessageConn{c, s} {
		if _, msg, err := r.ReadMessage(quiet, nil); err == nil {
			t.Fatalf("extra message %q", msg)
		}
	}
	var empty int
	for _, p := range log.all()[before:] {
		if p.empty {
			empty++
		}
	}
	if empty < 2 {
		t.Fatalf("%d polls answered empty in %v idle, want one every %v", empty, 5*interval, interval)
	}
}

// A plain-polling session lives on polls alone, its interval clamped to
// half the grace period; once its client stops polling it expires.
func testPlainPollingGrace(t *testing.T) {
	const grace = 400 * time.Millisecond
	sessions := make(chan *Session, 1)
	_, srv := serve(t, &Options{Grace: grace}, func(s *Session) { sessions <- s })
	c, err := Dial(bg, srv.URL, &DialOptions{PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := <-sessions
	if c.interval != grace/2 || s.interval != grace/2 {
		t.Fatalf("client interval %v, session %v: want it clamped to %v", c.interval, s.interval, grace/2)
	}
	time.Sleep(3 * grace)
	if err := s.WriteMessage(bg, conn.Text, []byte("alive")); err != nil {
		t.Fatalf("after %v: %v", 3*grace, err)
	}
	if _, msg, err := c.ReadMessage(bg, nil); err != nil || string(msg) != "alive" {
		t.Fatalf("client read %q %v", msg, err)
	}

	// By hand: one poll, then none.
	resp, err := http.Post(srv.URL+"/open?hold=0&interval=50", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var reply openReply
	json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	s2 := <-sessions
	if code, body, _ := get(t, srv.URL+"/poll?ack=0&id="+reply.ID); code != http.StatusOK || body != "" {
		t.Fatalf("poll: %d %q, want an empty answer at once", code, body)
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if _, _, err := s2.ReadMessage(ctx, nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("the session left without polls read %v, want it expired", err)
	}
	c.Close(conn.CloseNormal, "")
}
