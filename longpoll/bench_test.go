package longpoll

import (
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// dialPair opens a session on loopback and returns both sides.
func dialPair(b *testing.B, opts *Options) (*Session, *Client) {
	sessions := make(chan *Session, 1)
	_, srv := serve(b, opts, func(s *Session) { sessions <- s })
	c, err := Dial(bg, srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(conn.CloseNormal, "") })
	return <-sessions, c
}

// BenchmarkLatency times a server's WriteMessage to the client's
// ReadMessage, one message at a time.
func BenchmarkLatency(b *testing.B) {
	s, c := dialPair(b, nil)
	msg := []byte("tick")
	var buf []byte
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := s.WriteMessage(bg, conn.Text, msg); err != nil {
			b.Fatal(err)
		}
		var err error
		if _, buf, err = c.ReadMessage(bg, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkThroughput streams small messages from the server to the client;
// the queue batches them into polls.
func BenchmarkThroughput(b *testing.B) {
	s, c := dialPair(b, nil)
	msg := make([]byte, 16)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for range b.N {
			if s.WriteMessage(bg, conn.Binary, msg) != nil {
				return
			}
		}
	}()
	var buf []byte
	for range b.N {
		var err error
		if _, buf, err = c.ReadMessage(bg, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkIdleSession measures the server's memory for a session that is
// open but has nothing queued and no poll held.
func BenchmarkIdleSession(b *testing.B) {
	sessions := make(chan *Session, 1)
	h, srv := serve(b, &Options{Grace: time.Hour}, func(s *Session) { sessions <- s })
	var held []*Session
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		resp, err := http.Post(srv.URL+"/open", "", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, <-sessions)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(held)), "B/session")
	h.Close()
}
