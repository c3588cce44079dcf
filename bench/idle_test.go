package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/procmem"
)

// The idle clients run in a child process (this test binary again), so that
// the parent's memory holds the servers' connections only.
const (
	envIdleAddr    = "PUSHWIRE_BENCH_IDLE_ADDR"
	envIdleConns   = "PUSHWIRE_BENCH_IDLE_CONNS"
	envIdleMode    = "PUSHWIRE_BENCH_IDLE_MODE"
	envIdleTraffic = "PUSHWIRE_BENCH_IDLE_TRAFFIC"
)

// What each idle connection has done before it is measured: nothing since
// the handshake, a ping answered, or one message echoed.
const (
	trafficNone = "none"
	trafficPing = "ping"
	trafficData = "data"
)

func TestMain(m *testing.M) {
	if !strings.Contains(os.Getenv("GODEBUG"), "adaptivestackstart=") {
		// Goroutines start on a stack of the historical average size by
		// default: one library's connections would set the size of the
		// next one's. Each is measured from the runtime's fixed 2 KiB
		// start instead, as in a process that serves only it.
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG="+strings.TrimPrefix(os.Getenv("GODEBUG")+",adaptivestackstart=0", ","))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if kind, addr := os.Getenv(envIdleSession), os.Getenv(envIdleAddr); kind != "" {
		if err := idleSessionClients(kind, addr); err != nil {
			fmt.Fprintln(os.Stderr, "idle sessions:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if addr := os.Getenv(envIdleAddr); addr != "" {
		if err := idleClients(addr); err != nil {
			fmt.Fprintln(os.Stderr, "idle clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if url := os.Getenv(envFanoutURL); url != "" {
		if err := fanoutClients(url); err != nil {
			fmt.Fprintln(os.Stderr, "fan-out subscribers:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleMessage is what each connection with data traffic exchanges once.
var idleMessage = jsonText(1 << 10)

// idleClients opens the connections, pings or exchanges one message on each
// as the traffic asks, says "ready" and holds them until stdin closes.
func idleClients(addr string) error {
	n, err := strconv.Atoi(os.Getenv(envIdleConns))
	if err != nil {
		return err
	}
	mode, err := strconv.Atoi(os.Getenv(envIdleMode))
	if err != nil {
		return err
	}
	m := compMode(mode)
	traffic := os.Getenv(envIdleTraffic)
	conns := make([]*conn.Conn, n)
	// A few dialers at once: quicker than one, without overflowing the backlog.
	var next atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				c, err := pushwireDialMode(addr, m)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				if m != plain && !c.Compressed() {
					errs <- errors.New("compression not negotiated")
					return
				}
				switch traffic {
				case trafficNone:
					continue
				case trafficPing:
					// The pong reaches Ping through a reader.
					go c.ReadMessage(context.Background(), nil)
					if err := c.Ping(context.Background(), nil); err != nil {
						errs <- fmt.Errorf("ping: %w", err)
						return
					}
					continue
				}
				reply, err := (pushwireClient{c}).roundTrip(idleMessage, nil)
				if err != nil || !bytes.Equal(reply, idleMessage) {
					errs <- fmt.Errorf("compressed echo came back altered (err %v)", err)
					return
				}
			}
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			return err
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// BenchmarkIdleConnMemory is the memory each idle server connection holds,
// blocked in its read, after nothing, a ping answered or one message echoed
// (compressed connections: one compressed message each way), at 1,000 and
// 15,000 connections: heap and stack after a full collection (B/conn, and
// apart), and the server process's resident memory (rss-B/conn).
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, c := range []struct {
		m       compMode
		traffic string
		n       int
	}{
		{plain, trafficNone, 2000},
		{plain, trafficPing, 1000},
		{plain, trafficData, 1000},
		{plain, trafficPing, 15000},
		{takeover, trafficData, 1000},
		{noTakeover, trafficData, 1000},
	} {
		for _, l := range libs {
			if !l.supports(c.m) {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s/%d/%s", c.m, c.traffic, c.n, l.name), func(b *testing.B) {
				var sum idleMemory
				for range b.N {
					sum = sum.add(idleRound(b, l, c.m, c.traffic, c.n))
				}
				k := float64(b.N)
				b.ReportMetric(float64(sum.heap+sum.stack)/k, "B/conn")
				b.ReportMetric(float64(sum.heap)/k, "heap-B/conn")
				b.ReportMetric(float64(sum.stack)/k, "stack-B/conn")
				b.ReportMetric(float64(sum.rss)/k, "rss-B/conn")
			})
		}
	}
}

// idleMemory is what idle connections hold, per connection.
type idleMemory struct{ heap, stack, rss float64 }

func (a idleMemory) add(b idleMemory) idleMemory {
	return idleMemory{a.heap + b.heap, a.stack + b.stack, a.rss + b.rss}
}

// TestIdleMemoryBound fails when an idle server connection behind net/http,
// served through conn.Handler, holds more than idleBound of heap and stack
// after a ping: 3.9 KiB measured, against 20 KiB for a handler that reads
// in place.
func TestIdleMemoryBound(t *testing.T) {
	const idleBound = 4 << 10
	for _, l := range libs {
		if l.name != "pushwire-handler" {
			continue
		}
		idleRound(t, l, plain, trafficPing, 1000) // warms up what a first round would count
		m := idleRound(t, l, plain, trafficPing, 1000)
		got := m.heap + m.stack
		t.Logf("%s: %.0f B per idle connection (heap %.0f, stack %.0f)", l.name, got, m.heap, m.stack)
		if got > idleBound {
			t.Errorf("%s: %.0f B per idle connection, want at most %d", l.name, got, idleBound)
		}
	}
}

// idleRound measures n idle connections to l's server once, per
// connection.
func idleRound(b testing.TB, l lib, m compMode, traffic string, n int) idleMemory {
	heap0, stack0 := inuse()
	rss0 := residentBytes(b)
	// Each connection reads once before the first message, once after.
	want := int64(n)
	if traffic == trafficData {
		want = 2 * int64(n)
	}
	var reads atomic.Int64
	srv := l.serve(listen(b), m, func() { reads.Add(1) })

	stopClients := startClients(b, envIdleAddr+"="+srv.addr, envIdleConns+"="+strconv.Itoa(n), envIdleMode+"="+strconv.Itoa(int(m)), envIdleTraffic+"="+traffic)
	var once sync.Once
	release := func() {
		once.Do(func() {
			stopClients()
			srv.stop()
		})
	}
	defer release()
	for deadline := time.Now().Add(60 * time.Second); reads.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d server reads reached", reads.Load(), want)
		}
	}
	// Give the last handlers time to park in their read; compressed ones
	// are measured once idle for longer than a library may keep state
	// after its last message (pushwire's compressor: 1 s).
	wait := 100 * time.Millisecond
	if m != plain {
		wait = 2 * time.Second
	}
	time.Sleep(wait)
	heap, stack := inuse()
	rss := residentBytes(b)
	release()
	k := float64(n)
	return idleMemory{float64(heap-heap0) / k, float64(stack-stack0) / k, float64(rss-rss0) / k}
}

// startClients runs this test binary again as the clients' process, with
// env added, and returns once it says "ready"; stop ends it.
func startClients(b testing.TB, env ...string) (stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() { stdin.Close(); cmd.Wait() }
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		stop()
		b.Fatalf("clients failed: %s", stderr.Bytes())
	}
	return stop
}

// inuse is the heap and stack in use after a full collection.
func inuse() (heap, stack int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), int64(ms.StackInuse)
}

// residentBytes reads this process's resident memory, once the runtime has
// returned what it can to the system; 0 where it cannot be read.
func residentBytes(b testing.TB) int64 {
	debug.FreeOSMemory()
	rss, err := procmem.Resident()
	if errors.Is(err, procmem.ErrUnsupported) {
		return 0 // not Linux: the RSS column stays empty
	}
	if err != nil {
		b.Fatal(err)
	}
	return rss
}
