package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// pushPair returns the server and client ends of one connection over the
// named transport, on loopback: both are conn.MessageConn, so the
// benchmarks below measure the two transports with the same code.
func pushPair(b *testing.B, transport string) (server, client conn.MessageConn) {
	ctx := context.Background()
	servers := make(chan conn.MessageConn, 1)
	lp := longpoll.NewHandler(&longpoll.Options{Grace: time.Hour})
	mux := http.NewServeMux()
	mux.Handle("/lp/", lp)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err == nil {
			servers <- c
		}
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(func() { lp.Close(); srv.Close() })
	if transport == "websocket" {
		c, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
		if err != nil {
			b.Fatal(err)
		}
		s := <-servers
		b.Cleanup(func() {
			go s.ReadMessage(ctx, nil)
			c.Close(conn.CloseNormal, "")
		})
		return s, c
	}
	go func() {
		if s, err := lp.Accept(ctx); err == nil {
			servers <- s
		}
	}()
	c, err := longpoll.Dial(ctx, srv.URL+"/lp", nil)
	if err != nil {
		b.Fatal(err)
	}
	s := <-servers
	b.Cleanup(func() { c.Close(conn.CloseNormal, "") })
	return s, c
}

var transports = []string{"websocket", "longpoll"}

// BenchmarkPushLatency times one server WriteMessage to the client's
// ReadMessage, one message in flight, and reports the median and the 99th
// percentile.
func BenchmarkPushLatency(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr, func(b *testing.B) {
			ctx := context.Background()
			s, c := pushPair(b, tr)
			msg := []byte("tick")
			var buf []byte
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if err := s.WriteMessage(ctx, conn.Text, msg); err != nil {
					b.Fatal(err)
				}
				var err error
				if _, buf, err = c.ReadMessage(ctx, buf); err != nil {
					b.Fatal(err)
				}
				if string(buf) != "tick" {
					b.Fatalf("got %q", buf)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkPushThroughput streams 16-byte messages from the server to the
// client as fast as they go; long polling batches them into its polls.
func BenchmarkPushThroughput(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr, func(b *testing.B) {
			ctx := context.Background()
			s, c := pushPair(b, tr)
			msg := make([]byte, 16)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() {
				for range b.N {
					if s.WriteMessage(ctx, conn.Binary, msg) != nil {
						return
					}
				}
			}()
			var buf []byte
			for range b.N {
				var err error
				if _, buf, err = c.ReadMessage(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
