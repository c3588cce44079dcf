package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/longpoll"
)

// envIdleSession names the kind of session the idle child process opens.
const envIdleSession = "PUSHWIRE_BENCH_IDLE_SESSION"

// The sessions BenchmarkIdleSessionMemory measures: a long-polling session
// as the JavaScript client keeps one (a poll always held), and the push
// layer's session on each transport, subscribed to one topic.
var sessionKinds = []string{"longpoll", "push-websocket", "push-longpoll"}

// BenchmarkIdleSessionMemory is the server's memory per idle session, the
// clients in a child process, after a full collection: what a server that
// keeps n clients waiting for news holds per client, beyond IdleConnMemory's
// bare connections. A long-polling client keeps one poll held, so its
// session holds a parked HTTP request too.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, n := range []int{1000} {
		for _, kind := range sessionKinds {
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				var sum idleMemory
				for range b.N {
					sum = sum.add(idleSessionRound(b, kind, n))
				}
				k := float64(b.N)
				b.ReportMetric(float64(sum.heap+sum.stack)/k, "B/session")
				b.ReportMetric(float64(sum.heap)/k, "heap-B/session")
				b.ReportMetric(float64(sum.stack)/k, "stack-B/session")
				b.ReportMetric(float64(sum.rss)/k, "rss-B/session")
			})
		}
	}
}

// idleSessionRound serves n sessions of kind to a child process and
// measures them once idle.
func idleSessionRound(b *testing.B, kind string, n int) idleMemory {
	heap0, stack0 := inuse()
	rss0 := residentBytes(b)
	var open atomic.Int64
	ln := listen(b)
	mux := http.NewServeMux()
	var stop func()
	switch kind {
	case "longpoll":
		lp := longpoll.NewHandler(nil)
		mux.Handle("/lp/", lp)
		go func() {
			for {
				s, err := lp.Accept(context.Background())
				if err != nil {
					return
				}
				open.Add(1)
				go func() { // an application's reader, waiting for messages
					for {
						if _, _, err := s.ReadMessage(context.Background(), nil); err != nil {
							return
						}
					}
				}()
			}
		}()
		stop = func() { lp.Close() }
	default:
		srv := pushwire.NewServer(pushwire.Options{OnOpen: func(*pushwire.Session) { open.Add(1) }})
		mux.Handle("/push/", srv)
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	defer func() { stop(); hs.Close() }()

	defer startClients(b, envIdleSession+"="+kind, envIdleAddr+"="+ln.Addr().String(), envIdleConns+"="+strconv.Itoa(n))()
	for deadline := time.Now().Add(60 * time.Second); open.Load() < int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sessions open", open.Load(), n)
		}
	}
	time.Sleep(500 * time.Millisecond) // every client's poll or read parks
	heap, stack := inuse()
	rss := residentBytes(b)
	k := float64(n)
	return idleMemory{float64(heap-heap0) / k, float64(stack-stack0) / k, float64(rss-rss0) / k}
}

// idleSessionClients is the child process of idleSessionRound: n clients
// of kind, ready once each has its session (and subscription), held until
// stdin closes.
func idleSessionClients(kind, addr string) error {
	n, err := strconv.Atoi(os.Getenv(envIdleConns))
	if err != nil {
		return err
	}
	// Enough connections for every client's held poll and its sends.
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 2 * n,
		DialContext:         (&net.Dialer{}).DialContext,
	}}
	ctx := context.Background()
	errs := make(chan error, n)
	for range n {
		go func() {
			switch kind {
			case "longpoll":
				_, err := longpoll.Dial(ctx, "http://"+addr+"/lp", &longpoll.DialOptions{HTTPClient: hc})
				errs <- err
			default:
				tr := "websocket"
				if kind == "push-longpoll" {
					tr = "longpoll"
				}
				c, err := pushwire.Dial(ctx, "http://"+addr+"/push/", &pushwire.ClientOptions{Topics: []string{"idle"}, Transport: tr, HTTPClient: hc})
				if err == nil {
					// Subscribed once the server says so.
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					var ev pushwire.Event
					for err == nil && ev.Kind != pushwire.EventSubscribed {
						ev, err = c.Next(cctx)
					}
					cancel()
				}
				errs <- err
			}
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}
