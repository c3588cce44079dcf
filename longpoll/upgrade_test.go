package longpoll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

var upgradeOn = &conn.AcceptOptions{}

// waitUpgraded waits until c runs on a WebSocket.
func waitUpgraded(t *testing.T, c *Client) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !c.Upgraded(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session did not move to a WebSocket")
		}
	}
}

// A session moves to a WebSocket, carries messages both ways there, and
// closes from either side with the close each side expects.
func TestUpgrade(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, closer := range []string{"client", "server"} {
		t.Run(closer+" closes", func(t *testing.T) {
			var polls, upgrades atomic.Int64
			sessions := make(chan *Session, 1)
			h := NewHandler(&Options{Upgrade: upgradeOn, Hold: time.Second})
			srv := newCountingServer(t, h, &polls, &upgrades)
			go func() {
				s, err := h.Accept(bg)
				if err == nil {
					sessions <- s
				}
			}()
			c, err := Dial(bg, srv.URL, &DialOptions{Upgrade: &conn.DialOptions{}})
			if err != nil {
				t.Fatal(err)
			}
			s := <-sessions
			waitUpgraded(t, c)
			// The requests already on their way when it moved arrive.
			time.Sleep(100 * time.Millisecond)
			before := polls.Load()
			for i := range 100 {
				if err := c.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "c%d", i)); err != nil {
					t.Fatal(err)
				}
				if err := s.WriteMessage(bg, conn.Binary, fmt.Appendf(nil, "s%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 100 {
				if typ, msg, err := s.ReadMessage(bg, nil); err != nil || typ != conn.Text || string(msg) != fmt.Sprint("c", i) {
					t.Fatalf("server read %v %q %v, want c%d", typ, msg, err, i)
				}
				if typ, msg, err := c.ReadMessage(bg, nil); err != nil || typ != conn.Binary || string(msg) != fmt.Sprint("s", i) {
					t.Fatalf("client read %v %q %v, want s%d", typ, msg, err, i)
				}
			}
			if n := polls.Load() - before; n != 0 {
				t.Errorf("%d polls or sends while upgraded", n)
			}
			if n := upgrades.Load(); n != 1 {
				t.Errorf("%d upgrades, want one that lasts", n)
			}
			a, b := conn.MessageConn(c), conn.MessageConn(s)
			if closer == "server" {
				a, b = b, a
			}
			done := make(chan error, 1)
			go func() { done <- a.Close(conn.CloseCode(4000), "bye") }()
			_, _, err = b.ReadMessage(bg, nil)
			ce, ok := errors.AsType[*conn.CloseError](err)
			if !ok || ce.Code != 4000 || ce.Reason != "bye" {
				t.Fatalf("the other side read %v, want the close 4000 bye", err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if closer == "server" {
				c.Close(conn.CloseNormal, "")
			}
		})
	}
}

// newCountingServer serves h, counting the polls and sends it answers,
// and the upgrades.
func newCountingServer(t *testing.T, h *Handler, n, upgrades *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "poll", "send":
			n.Add(1)
		case "upgrade":
			upgrades.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { h.Close(); srv.Close() })
	return srv
}

// budgetConn cuts its connection after a byte budget, read and written
// together: some during the opening handshake, most after a while. With
// armed set, bytes count only while it is true.
type budgetConn struct {
	net.Conn
	mu    sync.Mutex
	left  int
	cuts  *atomic.Int64
	armed *atomic.Bool
}

func (c *budgetConn) spend(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed != nil && !c.armed.Load() && c.left > 0 {
		return nil
	}
	if c.left -= n; c.left <= 0 {
		if c.left+n > 0 {
			c.cuts.Add(1)
		}
		c.Conn.Close()
		return errInjected
	}
	return nil
}

func (c *budgetConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil {
		err = c.spend(n)
	}
	return n, err
}

func (c *budgetConn) Write(p []byte) (int, error) {
	if err := c.spend(len(p)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// 10,000 messages each way while the session moves between polls and
// WebSockets that are cut during the probe, during the switch and after:
// none lost, none duplicated, all in order.
func TestUpgradeFaults(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	const n = 10000
	var dials, early, cuts atomic.Int64
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(3, 4))
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dials.Add(1)
		mu.Lock()
		budget := 1 + r.IntN(4<<10)
		if r.IntN(3) == 0 { // within the handshake or the first messages
			budget = 1 + r.IntN(600)
			early.Add(1)
		}
		mu.Unlock()
		return &budgetConn{Conn: nc, left: budget, cuts: &cuts}, nil
	}
	start := time.Now()
	serverDone := make(chan error, 2)
	_, srv := serve(t, &Options{Upgrade: upgradeOn, Hold: 200 * time.Millisecond, Grace: 10 * time.Second, MaxQueue: 512}, serveN(n, serverDone))
	f := &faulty{next: http.DefaultTransport, r: rand.New(rand.NewPCG(1, 2))}
	upgradeRetry = 10 * time.Millisecond
	t.Cleanup(func() { upgradeRetry = time.Second })
	c, err := Dial(bg, srv.URL, &DialOptions{
		HTTPClient: &http.Client{Transport: f},
		MaxQueue:   512,
		Upgrade:    &conn.DialOptions{NetDialContext: dial},
	})
	if err != nil {
		t.Fatal(err)
	}
	exchangeN(t, c, n, serverDone)
	t.Logf("%d messages each way in %v: %d WebSockets (%d cut early), %d cut; %d polls, %d sends; %d answers lost, %d cut",
		n, time.Since(start).Round(time.Millisecond), dials.Load(), early.Load(), cuts.Load(), f.polls.Load(), f.sends.Load(), f.dropped.Load(), f.cut.Load())
	if early.Load() == 0 || cuts.Load() < 10 {
		t.Fatal("too few WebSockets were cut")
	}
	c.Close(conn.CloseNormal, "")
}

// serveN is a session that sends n messages ("s0"...) and checks the
// client's n ("c0"...), each reporting to done.
func serveN(n int, done chan<- error) func(*Session) {
	return func(s *Session) {
		go func() { done <- sendN(s, "s", n) }()
		done <- checkN(s, "c", n)
	}
}

// exchangeN sends and checks c's side of serveN's exchange, and waits for
// the server's two results.
func exchangeN(t *testing.T, c conn.MessageConn, n int, serverDone <-chan error) {
	t.Helper()
	clientDone := make(chan error, 1)
	go func() { clientDone <- sendN(c, "c", n) }()
	if err := checkN(c, "s", n); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan error{clientDone, serverDone, serverDone} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// sendN writes n text messages, prefix then the count.
func sendN(c conn.MessageConn, prefix string, n int) error {
	for i := range n {
		if err := c.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "%s%d", prefix, i)); err != nil {
			return err
		}
	}
	return nil
}

// checkN reads sendN's n messages, in order, and nothing more.
func checkN(c conn.MessageConn, prefix string, n int) error {
	var buf []byte
	for i := range n {
		_, msg, err := c.ReadMessage(bg, buf)
		if err != nil {
			return fmt.Errorf("%s: message %d: %v", prefix, i, err)
		}
		if want := fmt.Sprintf("%s%d", prefix, i); string(msg) != want {
			return fmt.Errorf("got %q, want %q", msg, want)
		}
		buf = msg
	}
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if _, msg, err := c.ReadMessage(ctx, nil); err == nil {
		return fmt.Errorf("%s: extra message %q", prefix, msg)
	}
	return nil
}
