package longpoll

import (
	"net/http"
	"runtime"
	"testing"
	"time"
)

// The push latency and throughput of both transports are measured side by
// side in bench/ (BenchmarkPushLatency, BenchmarkPushThroughput).

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
