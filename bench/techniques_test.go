package bench

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// techniquesEvery is the pace of the publications: an event stream, not a
// flood, so that latency is the technique's, not a queue's.
const techniquesEvery = 2 * time.Millisecond

// BenchmarkTechniques measures the three ways of pushing that HTTP offers,
// and long polling moved to a WebSocket, on loopback with pushwire's
// transports: one op is one 64-byte event published by the server (one
// every 2 ms) to one client. It reports the median and 99th percentile of
// publish-to-receive latency and the HTTP requests the client made per
// event received (the opening ones included). Plain polling polls every
// 100 ms.
func BenchmarkTechniques(b *testing.B) {
	for _, tech := range []string{"plain-polling", "long-polling", "long-polling-upgraded", "websocket"} {
		b.Run(tech, func(b *testing.B) { technique(b, tech) })
	}
}

func technique(b *testing.B, tech string) {
	ctx := context.Background()
	servers := make(chan conn.MessageConn, 1)
	lp := longpoll.NewHandler(&longpoll.Options{Grace: time.Hour, Upgrade: &conn.AcceptOptions{}})
	go func() {
		if s, err := lp.Accept(ctx); err == nil {
			servers <- s
		}
	}()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if path.Base(r.URL.Path) == "ws" {
			if c, err := conn.Accept(w, r, nil); err == nil {
				servers <- c
			}
			return
		}
		lp.ServeHTTP(w, r)
	}))
	b.Cleanup(func() { lp.Close(); srv.Close() })

	var client conn.MessageConn
	var err error
	switch tech {
	case "websocket":
		client, err = conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	case "plain-polling":
		client, err = longpoll.Dial(ctx, srv.URL+"/lp", &longpoll.DialOptions{PollInterval: 100 * time.Millisecond})
	case "long-polling":
		client, err = longpoll.Dial(ctx, srv.URL+"/lp", nil)
	case "long-polling-upgraded":
		var c *longpoll.Client
		c, err = longpoll.Dial(ctx, srv.URL+"/lp", &longpoll.DialOptions{Upgrade: &conn.DialOptions{}})
		for deadline := time.Now().Add(10 * time.Second); err == nil && !c.Upgraded(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the session did not move to a WebSocket")
			}
		}
		client = c
	}
	if err != nil {
		b.Fatal(err)
	}
	server := <-servers
	defer server.Close(conn.CloseNormal, "")
	defer client.Close(conn.CloseNormal, "")

	var mu sync.Mutex
	var lat []time.Duration
	go func() {
		var buf []byte
		for {
			_, msg, err := client.ReadMessage(ctx, buf)
			if err != nil {
				return
			}
			d := time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(msg))))
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			buf = msg
		}
	}()
	msg := make([]byte, 64)
	n := 0
	tick := time.NewTicker(techniquesEvery)
	defer tick.Stop()
	for b.Loop() {
		<-tick.C
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if err := server.WriteMessage(ctx, conn.Binary, msg); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		all := len(lat) >= n
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not every one of %d events received", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(requests.Load())/float64(n), "req/event")
}
