package longpoll

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// faulty stands between the client and the server: it loses one in five
// poll answers after the server sent them, cuts others off half way, loses
// some send answers, and delays requests.
type faulty struct {
	next http.RoundTripper
	mu   sync.Mutex
	r    *rand.Rand

	polls, sends, dropped, cut, delayed atomic.Int64
}

var errInjected = errors.New("injected fault")

func (f *faulty) roll() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.r.IntN(100)
}

func (f *faulty) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.roll() < 10 {
		f.delayed.Add(1)
		time.Sleep(time.Duration(f.roll()/10) * time.Millisecond)
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	isPoll := strings.HasSuffix(req.URL.Path, "/poll")
	if isPoll {
		f.polls.Add(1)
	} else {
		f.sends.Add(1)
	}
	switch n := f.roll(); {
	case isPoll && n < 20, !isPoll && strings.HasSuffix(req.URL.Path, "/send") && n < 10:
		// The server has answered; the answer is lost.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		f.dropped.Add(1)
		return nil, errInjected
	case isPoll && n < 30:
		f.cut.Add(1)
		resp.Body = &cutBody{rc: resp.Body, left: max(resp.ContentLength/2, 1)}
	}
	return resp, nil
}

// cutBody ends in an error part way through.
type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errInjected
	}
	n, err := c.rc.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

// 100,000 messages each way through a faulty network: none lost, none
// duplicated, all in order, and the session survives.
func TestFaultInjection(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	const n = 100000
	start := time.Now()
	serverDone := make(chan error, 2)
	_, srv := serve(t, &Options{Hold: 200 * time.Millisecond, Grace: 10 * time.Second, MaxQueue: 512}, serveN(n, serverDone))
	f := &faulty{next: http.DefaultTransport, r: rand.New(rand.NewPCG(1, 2))}
	c, err := Dial(bg, srv.URL, &DialOptions{HTTPClient: &http.Client{Transport: f}, MaxQueue: 512})
	if err != nil {
		t.Fatal(err)
	}
	exchangeN(t, c, n, serverDone)
	t.Logf("%d messages each way in %v: %d polls, %d sends; %d answers lost, %d cut, %d delayed",
		n, time.Since(start).Round(time.Millisecond), f.polls.Load(), f.sends.Load(), f.dropped.Load(), f.cut.Load(), f.delayed.Load())
	if f.dropped.Load() == 0 || f.cut.Load() == 0 {
		t.Fatal("no faults were injected")
	}
	c.Close(conn.CloseNormal, "")
}
