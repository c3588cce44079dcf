package pushwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/internal/proxytest"
	"github.com/pushwire/pushwire/longpoll"
)

var bg = context.Background()

// startServer serves srv under /push/ on a loopback listener.
func startServer(t testing.TB, opts pushwire.Options) (*pushwire.Server, string) {
	t.Helper()
	srv := pushwire.NewServer(opts)
	mux := http.NewServeMux()
	mux.Handle("/push/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	return srv, hs.URL + "/push/"
}

// next returns the client's next event but EventSubscribed, failing the
// test after a while.
func next(t testing.TB, c *pushwire.Client) pushwire.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("no event: %v", err)
		}
		if ev.Kind != pushwire.EventSubscribed {
			return ev
		}
	}
}

// waitSubscribed publishes markers on topic until the client sees one, so
// that what is published next reaches it live.
func waitSubscribed(t testing.TB, srv *pushwire.Server, c *pushwire.Client, topic string) {
	t.Helper()
	for i := 0; ; i++ {
		if _, err := srv.Publish(bg, topic, pushwire.Text, []byte("marker")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
		ev, err := c.Next(ctx)
		cancel()
		if err == nil && ev.Kind == pushwire.EventPublication && string(ev.Data) == "marker" {
			// Drain the other markers already on their way.
			for {
				ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
				_, err := c.Next(ctx)
				cancel()
				if err != nil {
					return
				}
			}
		}
		if i > 200 {
			t.Fatal("the client never received a publication")
		}
	}
}

func TestPublishReachesBothTransports(t *testing.T) {
	t.Cleanup(leaktest.Check(t)) // after the server's cleanup
	srv, url := startServer(t, pushwire.Options{})
	for _, transport := range []string{"websocket", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			c, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: []string{"news"}, Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitSubscribed(t, srv, c, "news")
			pos, err := srv.Publish(bg, "news", pushwire.Text, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			ev := next(t, c)
			if ev.Kind != pushwire.EventPublication || ev.Topic != "news" || string(ev.Data) != "hello" || ev.Position != pos || c.Transport() != transport {
				t.Fatalf("got %+v on %q, want the publication at %v on %s", ev, c.Transport(), pos, transport)
			}
			if _, err := srv.Publish(bg, "news", pushwire.Binary, []byte{0, 1, 2}); err != nil {
				t.Fatal(err)
			}
			if ev := next(t, c); ev.Type != pushwire.Binary || string(ev.Data) != "\x00\x01\x02" {
				t.Fatalf("got %+v, want the binary publication", ev)
			}
		})
	}
}

// faultyListener cuts connections at random: each accepted connection is
// closed after a random time.
type faultyListener struct {
	net.Listener
	rng  func() time.Duration
	cuts atomic.Int64
	stop chan struct{}
}

func (l *faultyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := l.rng()
	go func() {
		select {
		case <-time.After(d):
			l.cuts.Add(1)
			c.Close()
		case <-l.stop:
		}
	}()
	return c, nil
}

// Every publication reaches every subscriber exactly once and in order,
// while the server cuts every connection at random (WebSocket connections
// and long-poll requests alike: a cut poll loses its answer) and clients
// switch transport midway.
func TestExactlyOnceUnderFaults(t *testing.T) {
	subscribers, topics, messages := 20, 4, 2000
	lifetime := 50 * time.Millisecond // to 10x that, at random
	if os.Getenv("PUSHWIRE_FULL") != "" {
		// The acceptance's size: PUSHWIRE_FULL=1 go test -run ExactlyOnce -v.
		// Connections live longer: on 2 cores, 200 clients' handshakes and
		// replays can take longer than 450 ms, and a connection cut before
		// its first message leaves its client where it was.
		subscribers, topics, messages = 200, 10, 10_000
		lifetime = 300 * time.Millisecond
	}
	// History holds the whole run, readies included: a client whose every
	// connection is cut before its first message (a loaded machine) can
	// fall any distance behind, and must still recover.
	srv := pushwire.NewServer(pushwire.Options{History: pushwire.History{Messages: 1 << 20}, MaxQueue: 1 << 16, MaxQueueBytes: 64 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &faultyListener{Listener: ln, stop: make(chan struct{}), rng: func() time.Duration {
		return lifetime + time.Duration(rand.Int64N(int64(9*lifetime)))
	}}
	hs := &http.Server{Handler: srv}
	go hs.Serve(fl)
	defer func() {
		close(fl.stop)
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	}()
	url := "http://" + ln.Addr().String() + "/"

	names := make([]string, topics)
	for i := range names {
		names[i] = "t" + strconv.Itoa(i)
	}
	type result struct {
		got map[string][]int
		err error
	}
	results := make(chan result, subscribers)
	ready := make(chan struct{}, subscribers)
	var clients []*pushwire.Client
	for i := range subscribers {
		transport := []string{"websocket", "longpoll"}[i%2]
		c, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: names, Transport: transport, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		for err != nil { // the listener may cut the first attempt too
			c, err = pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: names, Transport: transport, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		}
		clients = append(clients, c)
		go func() {
			r := result{got: make(map[string][]int)}
			defer func() { results <- r }()
			want := topics * messages
			seen := 0
			signalled := false
			for seen < want {
				ctx, cancel := context.WithTimeout(bg, 60*time.Second)
				ev, err := c.Next(ctx)
				cancel()
				if err != nil {
					r.err = fmt.Errorf("after %d of %d: %w", seen, want, err)
					return
				}
				switch ev.Kind {
				case pushwire.EventLost:
					// The rest of the topic will not come: fail now, not
					// at the test's deadline.
					r.err = fmt.Errorf("after %d of %d: lost %s, resuming at %+v: %s", seen, want, ev.Topic, ev.Position, ev.Reason)
					return
				case pushwire.EventPublication:
					if string(ev.Data) == "ready" {
						if !signalled {
							signalled = true
							ready <- struct{}{}
						}
						continue
					}
					n, _ := strconv.Atoi(string(ev.Data))
					r.got[ev.Topic] = append(r.got[ev.Topic], n)
					seen++
					if seen == want/2 && i%4 == 0 {
						// Switch transport midway.
						c.SetTransport([]string{"longpoll", "websocket"}[i%2])
						c.Drop()
					}
				}
			}
		}()
	}
	// Every client has a position on every topic before the run starts.
	for range subscribers {
		for received := false; !received; {
			for _, name := range names {
				srv.Publish(bg, name, pushwire.Text, []byte("ready"))
			}
			select {
			case <-ready:
				received = true
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// Give the rest of the readies time to land, then publish the run.
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	for n := range messages {
		for _, name := range names {
			if _, err := srv.Publish(bg, name, pushwire.Text, []byte(strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
		}
		if n%500 == 499 {
			time.Sleep(10 * time.Millisecond) // a stream, not one burst
		}
	}
	for range subscribers {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, name := range names {
			got := r.got[name]
			for i, n := range got {
				if n != i {
					t.Fatalf("topic %s: publication %d is %d (duplicate or out of order); %d received", name, i, n, len(got))
				}
			}
			if len(got) != messages {
				t.Fatalf("topic %s: %d of %d publications", name, len(got), messages)
			}
		}
	}
	for _, c := range clients {
		c.Close()
	}
	st := srv.Stats()
	t.Logf("%d subscribers x %d topics x %d messages in %v: %d cuts, %d resumes recovered, %d failed",
		subscribers, topics, messages, time.Since(start), fl.cuts.Load(), st.Recoveries, st.RecoveriesFailed)
	if fl.cuts.Load() == 0 {
		t.Error("no connection was cut: the test proved nothing")
	}
}

// switchable serves whichever Server it holds: a server "restarted" behind
// the same address.
type switchable struct {
	cur atomic.Pointer[pushwire.Server]
}

func (h *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.cur.Load().ServeHTTP(w, r) }

// When history no longer covers a client's position, or the server
// restarted (a new epoch), the client gets an EventLost for the topic, then
// the live publications.
func TestRecoveryFailureIsExplicit(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	h := &switchable{}
	first := pushwire.NewServer(pushwire.Options{History: pushwire.History{Messages: 5}})
	h.cur.Store(first)
	hs := httptest.NewServer(h)
	defer hs.Close()
	c, err := pushwire.Dial(bg, hs.URL+"/", &pushwire.ClientOptions{Topics: []string{"t"}, Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSubscribed(t, first, c, "t")

	// Trimmed: the client misses more than history keeps. Refuse its
	// reconnections meanwhile.
	refuse := pushwire.NewServer(pushwire.Options{Authenticate: func(*http.Request) (any, error) {
		return nil, &pushwire.HTTPError{Status: http.StatusServiceUnavailable, Err: errors.New("down")}
	}})
	h.cur.Store(refuse)
	c.Drop()
	for i := range 20 {
		first.Publish(bg, "t", pushwire.Text, []byte(strconv.Itoa(i)))
	}
	h.cur.Store(first)
	if ev := next(t, c); ev.Kind != pushwire.EventLost || ev.Topic != "t" {
		t.Fatalf("after the gap: %+v, want EventLost for t", ev)
	}
	first.Publish(bg, "t", pushwire.Text, []byte("live"))
	if ev := next(t, c); ev.Kind != pushwire.EventPublication || string(ev.Data) != "live" {
		t.Fatalf("after the lost event: %+v, want the live publication", ev)
	}

	// Restarted: a new epoch, whatever it holds.
	second := pushwire.NewServer(pushwire.Options{})
	h.cur.Store(second)
	c.Drop()
	if ev := next(t, c); ev.Kind != pushwire.EventLost || ev.Topic != "t" {
		t.Fatalf("after the restart: %+v, want EventLost for t", ev)
	}
	waitSubscribed(t, second, c, "t")
	st1, st2 := first.Stats(), second.Stats()
	t.Logf("first server: %d recovered, %d failed; second: %d failed", st1.Recoveries, st1.RecoveriesFailed, st2.RecoveriesFailed)
	for _, s := range []*pushwire.Server{first, refuse, second} {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		s.Shutdown(ctx)
		cancel()
	}
}

// Shutdown closes every session, on both transports, with 1001 and a
// reason the client reads, and returns once they ended.
func TestShutdown(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv := pushwire.NewServer(pushwire.Options{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var raw []*conn.Conn
	var clients []*pushwire.Client
	n := 20
	if os.Getenv("PUSHWIRE_FULL") != "" {
		n = 2000 // the acceptance's: 1,000 on each transport
	}
	for i := range n {
		transport := []string{"websocket", "longpoll"}[i%2]
		c, err := pushwire.Dial(bg, hs.URL+"/", &pushwire.ClientOptions{Transport: transport, MaxBackoff: time.Hour, MinBackoff: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	// Plain WebSocket clients, to read the close they get.
	for range 5 {
		c, err := conn.Dial(bg, "ws"+strings.TrimPrefix(hs.URL, "http")+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, c)
	}
	lp, err := longpoll.Dial(bg, hs.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for srv.Stats().Sessions["websocket"]+srv.Stats().Sessions["longpoll"] < n+6 {
		time.Sleep(10 * time.Millisecond)
	}
	closes := make(chan error, len(raw)+1)
	for _, c := range raw {
		go func() { _, _, err := c.ReadMessage(bg, nil); closes <- err }()
	}
	go func() { _, _, err := lp.ReadMessage(bg, nil); closes <- err }()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("Shutdown of %d sessions took %v", n+6, time.Since(start))
	for range len(raw) + 1 {
		err := <-closes
		ce, ok := errors.AsType[*conn.CloseError](err)
		if !ok || ce.Code != conn.CloseGoingAway || ce.Reason != "server shutting down" || ce.Local {
			t.Errorf("a client read %v, want the server's close 1001 \"server shutting down\"", err)
		}
	}
	if n := srv.Stats().Sessions; n["websocket"]+n["longpoll"] != 0 {
		t.Errorf("sessions left after Shutdown: %v", n)
	}
	if _, err := srv.Publish(bg, "t", pushwire.Text, nil); !errors.Is(err, pushwire.ErrShutdown) {
		t.Errorf("Publish after Shutdown: %v", err)
	}
	for _, c := range raw {
		c.Close(conn.CloseNormal, "")
	}
	lp.Close(conn.CloseNormal, "")
	for _, c := range clients {
		c.Close()
	}
}

// stuckSubscriber connects a raw pushwire.v1 client to url that subscribes
// to topic "t" with a small receive window and never reads; it is closed
// when the test ends.
func stuckSubscriber(t *testing.T, url string) {
	t.Helper()
	c, err := conn.Dial(bg, "ws"+strings.TrimPrefix(url, "http"), &conn.DialOptions{Subprotocols: []string{pushwire.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.NetConn().Close() })
	c.NetConn().(*net.TCPConn).SetReadBuffer(4 << 10)
	c.WriteMessage(bg, conn.Text, []byte(`{"t":"sub","topic":"t"}`))
}

// A subscriber that stops reading is closed with 1008 once its queue is
// full, and the others keep getting every publication meanwhile.
func TestSlowConsumerIsolated(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv, url := startServer(t, pushwire.Options{MaxQueue: 256, MaxQueueBytes: 256 << 10, History: pushwire.History{Bytes: 4 << 20}})
	fast, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	waitSubscribed(t, srv, fast, "t")
	stuckSubscriber(t, url) // the slow one
	payload := make([]byte, 1<<10)
	const n = 8000 // 8 MiB: past the queue and what the kernel buffers
	got := make(chan int, 1)
	go func() {
		seen := 0
		for seen < n {
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			ev, err := fast.Next(ctx)
			cancel()
			if err != nil {
				break
			}
			if ev.Kind == pushwire.EventPublication && len(ev.Data) == len(payload) {
				seen++
			}
		}
		got <- seen
	}()
	for i := range n {
		srv.Publish(bg, "t", pushwire.Binary, payload)
		if i%16 == 15 {
			time.Sleep(time.Millisecond) // a stream the fast one keeps up with
		}
	}
	if seen := <-got; seen != n {
		t.Fatalf("the fast subscriber got %d of %d", seen, n)
	}
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().SlowDisconnects == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	st := srv.Stats()
	t.Logf("slow disconnects %d, queue drops %d", st.SlowDisconnects, st.QueueDrops)
	if st.SlowDisconnects != 1 {
		t.Errorf("%d slow consumers disconnected, want 1", st.SlowDisconnects)
	}
}

// A write to a client that does not read waits for room, up to the
// WriteTimeout; the writers take the other sessions meanwhile. With one
// processor the writer pool has one goroutine: were it to wait with the
// stalled clients' writes, the fast one would get nothing for a minute.
func TestStalledWritesHoldNoOneUp(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	srv, url := startServer(t, pushwire.Options{WriteTimeout: time.Minute, MaxQueue: 1 << 20, MaxQueueBytes: 1 << 30})
	fast, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	waitSubscribed(t, srv, fast, "t")
	for range 2 {
		stuckSubscriber(t, url)
	}
	for srv.Stats().Sessions["websocket"] < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // for the subscriptions to arrive
	const n = 200                      // 12.5 MiB: past what the kernel buffers for a stuck client
	payload := make([]byte, 64<<10)
	for range n {
		srv.Publish(bg, "t", pushwire.Binary, payload)
	}
	for i := range n {
		if ev := next(t, fast); ev.Kind != pushwire.EventPublication || len(ev.Data) != len(payload) {
			t.Fatalf("publication %d: got event %v of %d bytes", i, ev.Kind, len(ev.Data))
		}
	}
	if got := srv.Stats().Sessions["websocket"]; got != 3 {
		t.Fatalf("%d WebSocket sessions open, want 3: the stuck ones' writes are to wait", got)
	}
}

// A client that takes nothing for WriteTimeout is cut off: its session
// ends and leaves the server, whatever its queue could still hold.
func TestWriteTimeoutEndsSession(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv, url := startServer(t, pushwire.Options{WriteTimeout: 200 * time.Millisecond, MaxQueue: 1 << 20, MaxQueueBytes: 1 << 30})
	stuckSubscriber(t, url)
	for srv.Stats().Sessions["websocket"] == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	payload := make([]byte, 64<<10)
	start := time.Now()
	for srv.Stats().Sessions["websocket"] > 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the stuck client's session is still open")
		}
		srv.Publish(bg, "t", pushwire.Binary, payload)
		time.Sleep(time.Millisecond)
	}
	t.Logf("the session ended %v after the first publication", time.Since(start))
	// And its connection is closed, so that its reading goroutine ends too
	// (the client, whose window is small, would take long to read to the
	// end of what the kernel still holds for it).
	for deadline := time.Now().Add(5 * time.Second); sessionReaders() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session's reader is still running: its connection stayed open")
		}
	}
}

// sessionReaders counts the goroutines reading a session's connection.
func sessionReaders() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "pushwire.(*Session).run(")
}

// Send keeps its own copy: the caller may reuse its buffer at once, also
// for a plain WebSocket client that speaks no pushwire.v1.
func TestSendCopiesData(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, url := startServer(t, pushwire.Options{OnOpen: func(s *pushwire.Session) {
		buf := []byte("original")
		s.Send(bg, pushwire.Text, buf)
		copy(buf, "REUSED!!")
	}})
	c, err := conn.Dial(bg, "ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if _, msg, err := c.ReadMessage(ctx, nil); err != nil || string(msg) != "original" {
		t.Fatalf("read %q %v, want \"original\"", msg, err)
	}
}

// TestOnRefuse: an opening request the server refuses, on either transport,
// is reported with its cause, where the client sees only a status.
func TestOnRefuse(t *testing.T) {
	errDenied := errors.New("no token")
	got := make(chan error, 4)
	_, u := startServer(t, pushwire.Options{
		OnRefuse: func(r *http.Request, err error) { got <- err },
		Authenticate: func(r *http.Request) (any, error) {
			if r.URL.Query().Get("token") == "" {
				return nil, errDenied
			}
			return nil, nil
		},
	})
	wsURL := "ws" + strings.TrimPrefix(u, "http")
	rows := []struct {
		name string
		open func() error
		want error
	}{
		{"websocket origin", func() error {
			h := http.Header{"Origin": {"https://elsewhere.example"}}
			_, err := conn.Dial(bg, wsURL+"?token=1", &conn.DialOptions{Header: h})
			return err
		}, handshake.ErrOrigin},
		{"longpoll origin", func() error {
			h := http.Header{"Origin": {"https://elsewhere.example"}}
			_, err := longpoll.Dial(bg, u+"?token=1", &longpoll.DialOptions{Header: h})
			return err
		}, handshake.ErrOrigin},
		{"websocket authenticate", func() error {
			_, err := conn.Dial(bg, wsURL, nil)
			return err
		}, errDenied},
		{"longpoll authenticate", func() error {
			_, err := longpoll.Dial(bg, u, nil)
			return err
		}, errDenied},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if err := r.open(); err == nil {
				t.Fatal("opened")
			}
			select {
			case err := <-got:
				if !errors.Is(err, r.want) {
					t.Fatalf("OnRefuse got %v, want %v", err, r.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OnRefuse not called")
			}
		})
	}
}

// gatedBroker is a MemoryBroker whose Subscribe to one topic waits for a
// gate, as a distributed broker's may wait for a failover.
type gatedBroker struct {
	*pushwire.MemoryBroker
	topic string
	gate  chan struct{}
}

func (b *gatedBroker) Subscribe(topic string, deliver func(pushwire.Publication)) (func(), error) {
	if topic == b.topic {
		<-b.gate
	}
	return b.MemoryBroker.Subscribe(topic, deliver)
}

// TestSlowBrokerSubscribe: a broker slow to subscribe one topic holds up
// that topic's subscribers only, not the server.
func TestSlowBrokerSubscribe(t *testing.T) {
	b := &gatedBroker{MemoryBroker: pushwire.NewMemoryBroker(pushwire.History{}), topic: "slow", gate: make(chan struct{})}
	srv, u := startServer(t, pushwire.Options{Broker: b})
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	slow, err := pushwire.Dial(ctx, u, &pushwire.ClientOptions{Topics: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for srv.Stats().Sessions["websocket"] == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the slow subscription reaches the gate

	// Held up, the rest would wait for the gate: it opens after a while
	// anyway, so that the test ends, and says so.
	var heldUp atomic.Bool
	stop := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-time.After(5 * time.Second):
			heldUp.Store(true)
		}
		close(b.gate)
	}()
	fast, err := pushwire.Dial(ctx, u, &pushwire.ClientOptions{Topics: []string{"fast"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	waitSubscribed(t, srv, fast, "fast")
	srv.Stats()
	close(stop)
	if heldUp.Load() {
		t.Fatal("a slow broker subscription held up another topic")
	}
	waitSubscribed(t, srv, slow, "slow")
}

// sharedBroker is one MemoryBroker behind two Servers, as one broker
// cluster is behind many nodes: Shutdown of a Server does not close it.
type sharedBroker struct{ *pushwire.MemoryBroker }

func (sharedBroker) Close() error { return nil }

// TestShutdownHandsOver: a node shut down while publications go on; its
// clients, on both transports, reconnect to another node of the same broker
// and get every publication once, in order.
func TestShutdownHandsOver(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	broker := sharedBroker{pushwire.NewMemoryBroker(pushwire.History{Messages: 100000, Bytes: 64 << 20})}
	defer broker.MemoryBroker.Close()
	a := pushwire.NewServer(pushwire.Options{Broker: broker})
	b := pushwire.NewServer(pushwire.Options{Broker: broker})
	h := &switchable{}
	h.cur.Store(a)
	hs := httptest.NewServer(h)
	defer hs.Close()
	n, msgs := 20, 400
	if os.Getenv("PUSHWIRE_FULL") != "" {
		n, msgs = 2000, 2000 // the acceptance's 1,000 sessions on each transport
	}
	clients := make([]*pushwire.Client, n)
	for i := range clients {
		c, err := pushwire.Dial(bg, hs.URL+"/", &pushwire.ClientOptions{
			Topics: []string{"t"}, Transport: []string{"websocket", "longpoll"}[i%2],
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	// Each client collects the publications' numbers, once subscribed.
	got := make([]chan []int, n)
	var subscribed sync.WaitGroup
	subscribed.Add(n)
	for i, c := range clients {
		got[i] = make(chan []int, 1)
		go func() {
			var seen []int
			ctx, cancel := context.WithTimeout(bg, 60*time.Second)
			defer cancel()
			for ev, err := c.Next(ctx); err == nil && ev.Kind != pushwire.EventSubscribed; ev, err = c.Next(ctx) {
			}
			subscribed.Done()
			for len(seen) < msgs {
				ev, err := c.Next(ctx)
				if err != nil {
					break
				}
				if ev.Kind == pushwire.EventLost {
					t.Errorf("client %d: %+v", i, ev)
				}
				if ev.Kind == pushwire.EventPublication {
					k, _ := strconv.Atoi(string(ev.Data))
					seen = append(seen, k)
				}
			}
			got[i] <- seen
		}()
	}
	subscribed.Wait()
	publish := func(k int) {
		for {
			if _, err := h.cur.Load().Publish(bg, "t", pushwire.Text, []byte(strconv.Itoa(k))); err == nil {
				return
			}
		}
	}
	for k := range msgs / 2 {
		publish(k)
	}
	h.cur.Store(b) // the balancer takes the node out, then it shuts down
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	start := time.Now()
	var took time.Duration
	done := make(chan error, 1)
	go func() {
		err := a.Shutdown(ctx)
		took = time.Since(start)
		done <- err
	}()
	for k := msgs / 2; k < msgs; k++ {
		publish(k)
	}
	published := time.Since(start)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("Shutdown of %d sessions took %v; the other half of the publications %v", n, took, published)
	for i := range clients {
		seen := <-got[i]
		if len(seen) != msgs {
			t.Errorf("client %d got %d of %d publications", i, len(seen), msgs)
			continue
		}
		for k, v := range seen {
			if v != k {
				t.Errorf("client %d: publication %d is %d", i, k, v)
				break
			}
		}
	}
	ctx2, cancel2 := context.WithTimeout(bg, 10*time.Second)
	defer cancel2()
	b.Shutdown(ctx2)
}

// TestPlainPollingClient: a Client told to poll plainly opens its
// long-poll session for plain polling and gets every publication.
func TestPlainPollingClient(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv := pushwire.NewServer(pushwire.Options{})
	opens := make(chan string, 4)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/open") {
			opens <- r.URL.RawQuery
		}
		srv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	defer srv.Shutdown(bg)
	c, err := pushwire.Dial(bg, hs.URL+"/", &pushwire.ClientOptions{Topics: []string{"t"}, Transport: "longpoll", PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if q := <-opens; !strings.Contains(q, "hold=0") || !strings.Contains(q, "interval=20") {
		t.Fatalf("opened with %q, want plain polling every 20 ms", q)
	}
	waitSubscribed(t, srv, c, "t")
	for i := range 50 {
		srv.Publish(bg, "t", pushwire.Text, []byte(strconv.Itoa(i)))
	}
	for i := range 50 {
		if ev := next(t, c); string(ev.Data) != strconv.Itoa(i) {
			t.Fatalf("publication %d: %+v", i, ev)
		}
	}
}

// epochBroker is a MemoryBroker whose history begins a new life on demand,
// as a recreated stream does: a new epoch, offsets from 1 again.
type epochBroker struct {
	*pushwire.MemoryBroker
	life atomic.Int64 // offsets of the current life are the inner ones minus base
	base atomic.Uint64
}

func (b *epochBroker) pos(p pushwire.Position) pushwire.Position {
	return pushwire.Position{Epoch: p.Epoch + "-" + strconv.FormatInt(b.life.Load(), 10), Offset: p.Offset - b.base.Load()}
}

func (b *epochBroker) Publish(ctx context.Context, topic string, typ pushwire.MessageType, payload []byte) (pushwire.Position, error) {
	p, err := b.MemoryBroker.Publish(ctx, topic, typ, payload)
	return b.pos(p), err
}

func (b *epochBroker) Subscribe(topic string, deliver func(pushwire.Publication)) (func(), error) {
	return b.MemoryBroker.Subscribe(topic, func(p pushwire.Publication) {
		p.Position = b.pos(p.Position)
		deliver(p)
	})
}

func (b *epochBroker) History(ctx context.Context, topic string, since pushwire.Position, limit int) ([]pushwire.Publication, pushwire.Position, error) {
	_, latest, _ := b.MemoryBroker.History(ctx, topic, pushwire.Position{}, 0)
	return nil, b.pos(latest), nil // no history: enough for a live subscriber
}

// TestEpochChangeLive: when the broker's history begins a new life while a
// client is subscribed, the client is told (EventLost), and the new life's
// publications, whose offsets start over, all arrive.
func TestEpochChangeLive(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	b := &epochBroker{MemoryBroker: pushwire.NewMemoryBroker(pushwire.History{})}
	srv, u := startServer(t, pushwire.Options{Broker: b})
	c, err := pushwire.Dial(bg, u, &pushwire.ClientOptions{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSubscribed(t, srv, c, "t")
	for i := range 5 {
		srv.Publish(bg, "t", pushwire.Text, []byte("old"+strconv.Itoa(i)))
	}
	for range 5 {
		next(t, c)
	}
	// A new life: offsets start over, below those the client has seen.
	_, latest, _ := b.MemoryBroker.History(bg, "t", pushwire.Position{}, 0)
	b.base.Store(latest.Offset)
	b.life.Add(1)
	for i := range 3 {
		srv.Publish(bg, "t", pushwire.Text, []byte("new"+strconv.Itoa(i)))
	}
	if ev := next(t, c); ev.Kind != pushwire.EventLost {
		t.Fatalf("after the new life began: %+v, want EventLost", ev)
	}
	for i := range 3 {
		if ev := next(t, c); ev.Kind != pushwire.EventPublication || string(ev.Data) != "new"+strconv.Itoa(i) {
			t.Fatalf("new life's publication %d: %+v", i, ev)
		}
	}
}

// flakyBroker is a MemoryBroker whose History fails as many times as fail
// says, as a distributed broker's does through an outage longer than its
// timeout.
type flakyBroker struct {
	*pushwire.MemoryBroker
	fail atomic.Int32
}

func (b *flakyBroker) History(ctx context.Context, topic string, since pushwire.Position, limit int) ([]pushwire.Publication, pushwire.Position, error) {
	if b.fail.Add(-1) >= 0 {
		return nil, pushwire.Position{}, errors.New("broker: timed out")
	}
	return b.MemoryBroker.History(ctx, topic, since, limit)
}

// TestBrokerFailureReconnects: a resume that fails at the broker, not
// refused, closes the session with 1013, so that the client reconnects (to
// this node or, behind a balancer, another) and resumes; it does not leave
// the topic dead behind an EventError.
func TestBrokerFailureReconnects(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, transport := range []string{"websocket", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			b := &flakyBroker{MemoryBroker: pushwire.NewMemoryBroker(pushwire.History{})}
			srv, u := startServer(t, pushwire.Options{Broker: b})
			c, err := pushwire.Dial(bg, u, &pushwire.ClientOptions{Topics: []string{"t"}, Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitSubscribed(t, srv, c, "t")
			b.fail.Store(1) // the next resume
			c.Drop()
			pos, err := srv.Publish(bg, "t", pushwire.Text, []byte("missed"))
			if err != nil {
				t.Fatal(err)
			}
			if ev := next(t, c); ev.Kind != pushwire.EventPublication || string(ev.Data) != "missed" || ev.Position != pos {
				t.Fatalf("got %+v, want the publication at %v", ev, pos)
			}
			if b.fail.Load() >= 0 {
				t.Fatal("the broker's History never failed")
			}
		})
	}
}

// A client that starts on long polling moves to a WebSocket while
// publications stream in: each arrives once, in order.
func TestUpgradeTransport(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv, url := startServer(t, pushwire.Options{})
	c, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Topics: []string{"ticks"}, Transport: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSubscribed(t, srv, c, "ticks")
	const n = 1000
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := srv.Publish(bg, "ticks", pushwire.Text, fmt.Append(nil, i)); err != nil {
				published <- err
				return
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		published <- nil
	}()
	transports := map[string]bool{}
	for i := range n {
		ev := next(t, c)
		if ev.Kind != pushwire.EventPublication || string(ev.Data) != fmt.Sprint(i) {
			t.Fatalf("got %+v, want publication %d", ev, i)
		}
		transports[c.Transport()] = true
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Transport() != "websocket"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still on %q", c.Transport())
		}
	}
	t.Logf("transports seen while receiving: %v", transports)
	if _, err := pushwire.Dial(bg, url, &pushwire.ClientOptions{Transport: "longpol"}); err == nil {
		t.Error("an unknown transport was taken")
	}
}

// A long-polling client behind a balancer that sends each request to the
// other node gets every publication of its topics once and in order: the
// node a poll reaches adopts the session from the subscriptions the poll
// carries.
func TestRoundRobinLongPolling(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	broker := sharedBroker{pushwire.NewMemoryBroker(pushwire.History{Messages: 100000, Bytes: 64 << 20})}
	defer broker.MemoryBroker.Close()
	var nodes []*pushwire.Server
	var handlers []http.Handler
	for range 2 {
		srv := pushwire.NewServer(pushwire.Options{Broker: broker, LongPoll: &longpoll.Options{Hold: time.Second}})
		defer srv.Shutdown(bg)
		nodes = append(nodes, srv)
		handlers = append(handlers, srv)
	}
	hs := httptest.NewServer(proxytest.NewRoundRobin(handlers...))
	defer hs.Close()
	topics := []string{"a", "b"}
	c, err := pushwire.Dial(bg, hs.URL+"/", &pushwire.ClientOptions{Topics: topics, Transport: "longpoll"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Subscribed from now: what is published before then is not the
	// client's.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for subscribed := map[string]bool{}; len(subscribed) < len(topics); {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == pushwire.EventSubscribed {
			subscribed[ev.Topic] = true
		}
	}
	const msgs = 2000
	go func() {
		for k := range msgs {
			for _, topic := range topics {
				// Through either node: the broker is theirs.
				if _, err := nodes[k%2].Publish(bg, topic, pushwire.Text, []byte(strconv.Itoa(k))); err != nil {
					t.Error(err)
					return
				}
			}
			if k%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	want := map[string]int{}
	for received := 0; received < msgs*len(topics); {
		ev := next(t, c)
		switch ev.Kind {
		case pushwire.EventPublication:
			k, _ := strconv.Atoi(string(ev.Data))
			if k != want[ev.Topic] {
				t.Fatalf("topic %s: got %d, want %d", ev.Topic, k, want[ev.Topic])
			}
			want[ev.Topic]++
			received++
		case pushwire.EventLost, pushwire.EventError:
			t.Fatalf("%+v", ev)
		}
	}
	// Each adoption resumes the subscriptions from their positions.
	resumed := nodes[0].Stats().Recoveries + nodes[1].Stats().Recoveries
	t.Logf("%d subscriptions resumed over the two nodes", resumed)
	if resumed < 4 {
		t.Errorf("%d subscriptions resumed: the requests did not roam", resumed)
	}
}

// A resume far behind is replayed whole and in order, in the chunks it is
// read in, then the subscription goes live from its last publication.
func TestReplayLongGap(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv, url := startServer(t, pushwire.Options{History: pushwire.History{Messages: 10000, Bytes: 64 << 20}, MaxQueue: 4096})
	const n = 1000 // several replay chunks
	var first pushwire.Position
	for k := range n {
		pos, err := srv.Publish(bg, "t", pushwire.Text, []byte(strconv.Itoa(k)))
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = pos
		}
	}
	c, err := conn.Dial(bg, "ws"+strings.TrimPrefix(url, "http"), &conn.DialOptions{Subprotocols: []string{pushwire.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(conn.CloseNormal, "")
	sub := fmt.Sprintf(`{"t":"sub","topic":"t","epoch":%q,"off":%d}`, first.Epoch, first.Offset)
	if err := c.WriteMessage(bg, conn.Text, []byte(sub)); err != nil {
		t.Fatal(err)
	}
	var e struct {
		T    string `json:"t"`
		Off  uint64 `json:"off"`
		Data string `json:"data"`
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for k := 1; k < n; k++ {
		_, msg, err := c.ReadMessage(ctx, nil)
		if err != nil {
			t.Fatalf("after %d of %d: %v", k-1, n-1, err)
		}
		if err := json.Unmarshal(msg, &e); err != nil || e.T != "pub" || e.Data != strconv.Itoa(k) || e.Off != first.Offset+uint64(k) {
			t.Fatalf("replayed publication %d: %s", k, msg)
		}
	}
	_, msg, err := c.ReadMessage(ctx, nil)
	if err != nil || json.Unmarshal(msg, &e) != nil || e.T != "sub" || e.Off != first.Offset+n-1 {
		t.Fatalf("after the replay: %s, %v; want sub at offset %d", msg, err, first.Offset+n-1)
	}
}

// Publish refuses what no subscriber could be sent, before the broker sees
// it: a text message that is not UTF-8 would make a WebSocket client fail
// its connection.
func TestPublishRefuses(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	srv := pushwire.NewServer(pushwire.Options{MaxTopicLength: 8})
	for _, row := range []struct {
		name    string
		topic   string
		typ     pushwire.MessageType
		payload string
		want    error
	}{
		{"text", "t", pushwire.Text, "héllo", nil},
		{"binary, not UTF-8", "t", pushwire.Binary, "\xff\xfe", nil},
		{"text, not UTF-8", "t", pushwire.Text, "h\xffllo", pushwire.ErrNotUTF8},
		{"text, a cut rune", "t", pushwire.Text, "h\xc3", pushwire.ErrNotUTF8},
		{"no such type", "t", 3, "x", conn.ErrMessageType},
		{"empty topic", "", pushwire.Text, "x", pushwire.ErrTopic},
		{"topic too long", "123456789", pushwire.Text, "x", pushwire.ErrTopic},
		{"topic not UTF-8", "t\xff", pushwire.Text, "x", pushwire.ErrTopic},
		{"topic with a control character", "t\n", pushwire.Text, "x", pushwire.ErrTopic},
	} {
		_, err := srv.Publish(bg, row.topic, row.typ, []byte(row.payload))
		if !errors.Is(err, row.want) || (row.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", row.name, err, row.want)
		}
	}
	if n := srv.Stats().Published; n != 2 {
		t.Errorf("%d published, want the 2 accepted", n)
	}
	srv.Shutdown(bg)
	if _, err := srv.Publish(bg, "t", pushwire.Text, []byte("x")); err != pushwire.ErrShutdown {
		t.Errorf("after Shutdown: %v, want ErrShutdown", err)
	}
}
