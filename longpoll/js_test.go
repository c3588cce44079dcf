package longpoll

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// The JavaScript client, as the handler serves it, run by Node against the
// Go server: messages both ways, closes both ways.
func TestJSClient(t *testing.T) {
	node := lookNode(t)
	t.Cleanup(leaktest.Check(t))
	type result struct {
		Transport string `json:"transport"`
		Got       []any  `json:"got"`
		Code      int    `json:"code"`
		Reason    string `json:"reason"`
		WasClean  bool   `json:"wasClean"`
		State     int    `json:"state"`
		Error     string `json:"error"`
	}
	echo := func(s *Session) error {
		for {
			typ, msg, err := s.ReadMessage(bg, nil)
			if err != nil {
				return err
			}
			s.WriteMessage(bg, typ, msg)
		}
	}
	for _, row := range []struct {
		scenario string
		opts     string               // pushwireConnect's, JSON
		session  func(*Session) error // the server's side
		want     result
		wantErr  *conn.CloseError // what the server's ReadMessage ends with
	}{
		{
			scenario: "echo",
			session:  echo,
			want:     result{Transport: "longpoll", Got: []any{"héllo", []any{0.0, 255.0, 7.0}, "len:60000"}, Code: 4000, Reason: "bye", WasClean: true, State: 3},
			wantErr:  &conn.CloseError{Code: 4000, Reason: "bye"},
		},
		{
			scenario: "echo",
			opts:     `{"pollInterval": 50}`,
			session: func(s *Session) error {
				if s.hold != 0 || s.interval != 50*time.Millisecond {
					return fmt.Errorf("hold %v, interval %v: not plain polling every 50ms", s.hold, s.interval)
				}
				return echo(s)
			},
			want:    result{Transport: "longpoll", Got: []any{"héllo", []any{0.0, 255.0, 7.0}, "len:60000"}, Code: 4000, Reason: "bye", WasClean: true, State: 3},
			wantErr: &conn.CloseError{Code: 4000, Reason: "bye"},
		},
		{
			scenario: "server-close",
			session: func(s *Session) error {
				s.WriteMessage(bg, conn.Text, []byte("last"))
				return s.Close(4001, "server leaves")
			},
			want: result{Transport: "longpoll", Got: []any{"last"}, Code: 4001, Reason: "server leaves", WasClean: true, State: 3},
		},
	} {
		t.Run(row.scenario+row.opts, func(t *testing.T) {
			done := make(chan error, 1)
			_, srv := serve(t, &Options{MaxBody: 64 << 10}, func(s *Session) { done <- row.session(s) })
			var got result
			runJS(t, node, srv.URL, row.scenario, row.opts, &got)
			if diff := cmp.Diff(row.want, got); diff != "" {
				t.Errorf("JavaScript client (-want +got):\n%s", diff)
			}
			err := <-done
			if row.wantErr != nil {
				if diff := cmp.Diff(row.wantErr, err); diff != "" {
					t.Errorf("server (-want +got):\n%s", diff)
				}
			} else if err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

// lookNode returns node's path, or skips the test without it (fails it in
// CI, which installs it).
func lookNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed: .ci/run should have installed it")
		}
		t.Skip("node is not installed: the JavaScript client cannot be tested")
	}
	return node
}

// runJS runs testdata/jsclient.js in Node against the handler at url and
// decodes what it printed into out.
func runJS(t *testing.T, node, url, scenario, opts string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	args := []string{"testdata/jsclient.js", url, scenario}
	if opts != "" {
		args = append(args, opts)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// The JavaScript client's proposal: a hold granted up to the server's
// most, or plain polling; polls are held for what was granted. Run by
// TestHold.
func testJSClientHold(t *testing.T) {
	node := lookNode(t)
	type result struct {
		Hold         int64  `json:"hold"`
		PollInterval int64  `json:"pollInterval"`
		Code         int    `json:"code"`
		Error        string `json:"error"`
	}
	const most = 400 * time.Millisecond
	for _, row := range []struct {
		opts           string
		hold, interval time.Duration // granted
	}{
		{`{"hold": 100, "idle": 1500}`, 100 * time.Millisecond, 0},
		{`{"hold": 2000, "idle": 1500}`, most, 0},
		{`{"idle": 1500}`, most, 0},
		{`{"pollInterval": 100, "idle": 1500}`, 0, 100 * time.Millisecond},
	} {
		t.Run(row.opts, func(t *testing.T) {
			t.Parallel()
			sessions := make(chan *Session, 1)
			h, _ := serve(t, &Options{Hold: most}, func(s *Session) { sessions <- s })
			log, srv := timed(t, h)
			var got result
			runJS(t, node, srv.URL, "idle", row.opts, &got)
			want := result{Hold: row.hold.Milliseconds(), PollInterval: row.interval.Milliseconds(), Code: 1000}
			if got != want {
				t.Fatalf("JavaScript client: %+v, want %+v", got, want)
			}
			if s := <-sessions; s.hold != row.hold || s.interval != row.interval {
				t.Fatalf("session hold %v, interval %v", s.hold, s.interval)
			}
			if row.interval == 0 {
				p := log.wait(t, 1)[0] // idle: held for the hold
				if !p.empty || p.took < row.hold {
					t.Fatalf("first poll: %d, empty %v, after %v; want empty after %v", p.status, p.empty, p.took, row.hold)
				}
				return
			}
			// Plain polling, idle: each poll answered at once, empty.
			polls := log.all()
			var empty int
			for _, p := range polls {
				if p.empty && p.took < row.interval {
					empty++
				}
			}
			if empty < 3 {
				t.Fatalf("%d of %d polls answered empty at once in 600ms, want one every %v", empty, len(polls), row.interval)
			}
		})
	}
}

// Options the JavaScript client cannot propose throw RangeError at once.
// Run by TestHold.
func testJSClientBadOptions(t *testing.T) {
	node := lookNode(t)
	_, srv := serve(t, nil, func(s *Session) { t.Error("a session was opened") })
	var got struct{ Got []string }
	runJS(t, node, srv.URL, "bad-options", "", &got)
	want := slices.Repeat([]string{"RangeError"}, 10)
	if diff := cmp.Diff(want, got.Got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A send answered 404, as by a node that does not know the session behind
// a balancer without affinity, ends the JavaScript client's session, and
// with it the poll the server holds: left to the hold time, it would keep
// one of the few connections a browser opens to the host, and a page that
// reopens often would soon have none.
func TestJSClientEndsItsPoll(t *testing.T) {
	node := lookNode(t)
	t.Cleanup(leaktest.Check(t))
	// Held for a minute: only the client can end the poll within the test.
	h, _ := serve(t, &Options{Hold: time.Minute}, func(s *Session) { s.ReadMessage(bg, nil) })
	polling, pollEnded := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "poll":
			first := false
			once.Do(func() { first = true; close(polling) })
			h.ServeHTTP(w, r)
			if first {
				close(pollEnded)
			}
		case "send":
			<-polling // refused once the poll is held
			http.Error(w, "longpoll: no such session", http.StatusNotFound)
		default:
			h.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/jsclient.js", srv.URL, "unknown-session")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	want := `{"transport":"longpoll","got":["error"],"code":1006,"reason":"","wasClean":false,"state":3,"hold":60000,"pollInterval":0}`
	if got := strings.TrimSpace(line); got != want {
		t.Errorf("JavaScript client: %s, want %s", got, want)
	}
	// Node still runs, as a page stays open: the poll must end all the same.
	select {
	case <-pollEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the poll is still held 5 s after the session ended")
	}
}

// The JavaScript client moves its session to a WebSocket and carries 1,000
// messages each way, in order and once, also when every connection to the
// server, polls and WebSockets alike, is cut after a few KB.
func TestJSClientUpgrade(t *testing.T) {
	node := lookNode(t)
	t.Cleanup(leaktest.Check(t))
	const n = 1000
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			done := make(chan error, 2)
			var armed atomic.Bool
			h := NewHandler(&Options{Upgrade: upgradeOn, Hold: 500 * time.Millisecond, Grace: 10 * time.Second})
			go func() {
				s, err := h.Accept(bg)
				if err != nil {
					done <- err
					return
				}
				go func() {
					for i := range n {
						if i%10 == 0 {
							time.Sleep(5 * time.Millisecond) // as the client paces its own
						}
						if err := s.WriteMessage(bg, conn.Text, fmt.Appendf(nil, "s%d", i)); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				var buf []byte
				for i := range n {
					_, msg, err := s.ReadMessage(bg, buf)
					if err != nil || string(msg) != fmt.Sprint("c", i) {
						done <- fmt.Errorf("server read %q %v, want c%d", msg, err, i)
						return
					}
					// Open (and client.js) went through: cut from now.
					armed.Store(true)
					buf = msg
				}
				_, _, err = s.ReadMessage(bg, nil)
				if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Code != 4000 {
					done <- fmt.Errorf("server read %v, want the close 4000", err)
					return
				}
				done <- nil
			}()
			srv := httptest.NewUnstartedServer(h)
			var cuts atomic.Int64
			if cut {
				srv.Listener = &cuttingListener{Listener: srv.Listener, r: rand.New(rand.NewPCG(5, 6)), cuts: &cuts, armed: &armed}
			}
			srv.Start()
			t.Cleanup(func() { h.Close(); srv.Close() })
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			args := []string{"testdata/jsclient.js", srv.URL, "upgrade", fmt.Sprintf(`{"n": %d}`, n)}
			// Node 22 has WebSocket; Node 20 behind a flag, which later
			// ones may not take.
			if exec.Command(node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").Run() != nil {
				args = append([]string{"--experimental-websocket"}, args...)
			}
			cmd := exec.CommandContext(ctx, node, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.Bytes())
			}
			var got struct {
				Received int
				Bad      string
				Seen     []string
				Code     int
				WasClean bool
				Error    string
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			t.Logf("%s; %d connections cut", b, cuts.Load())
			if got.Received != n || got.Bad != "" || got.Code != 4000 || !got.WasClean || !slices.Contains(got.Seen, "websocket") {
				t.Fatalf("JavaScript client: %+v; want %d in order, on a WebSocket at some point, closed cleanly with 4000", got, n)
			}
			if !cut && !slices.Equal(got.Seen, []string{"websocket"}) {
				t.Fatalf("transports %v without a cut, want one move to a WebSocket", got.Seen)
			}
			if cut && cuts.Load() < 3 {
				t.Fatalf("%d connections cut", cuts.Load())
			}
			for range 2 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// cuttingListener gives each connection it accepts a byte budget (see
// budgetConn), spent once armed: a third are cut within 600 bytes.
type cuttingListener struct {
	net.Listener
	mu    sync.Mutex
	r     *rand.Rand
	cuts  *atomic.Int64
	armed *atomic.Bool
}

func (l *cuttingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	budget := 1 + l.r.IntN(8<<10)
	if l.r.IntN(3) == 0 {
		budget = 1 + l.r.IntN(600)
	}
	l.mu.Unlock()
	return &budgetConn{Conn: nc, left: budget, cuts: l.cuts, armed: l.armed}, nil
}
