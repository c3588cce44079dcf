package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// The fan-out benchmark publishes messages to every subscriber of a server:
// the subscribers run in a child process (this test binary again), so that
// the parent's CPU time and heap are the server's alone.
const (
	envFanoutURL  = "PUSHWIRE_BENCH_FANOUT_URL"
	envFanoutSubs = "PUSHWIRE_BENCH_FANOUT_SUBS"
	envFanoutMode = "PUSHWIRE_BENCH_FANOUT_MODE"
	// The first so many subscribers never read (see BenchmarkSlowConsumer).
	envFanoutStalled = "PUSHWIRE_BENCH_FANOUT_STALLED"
)

const (
	// fanoutSize is the size of a published message. Its first 8 bytes
	// are the publish time (Unix nanoseconds), the next 8 its sequence
	// number from 1; the rest is JSON-like text, so that the compressed
	// row compresses what an application would send.
	fanoutSize = 1 << 10
	// Messages are published in bursts of fanoutBurst deliveries (100
	// messages to 1,000 subscribers, 10 to 10,000), back to back; then the
	// parent waits until every subscriber has them all. Latency is then
	// delivery's, not that of a queue that grows for as long as the run
	// lasts, and no more is in flight at 10,000 subscribers than at 1,000.
	fanoutBurst = 100_000
	// fanoutWait bounds the wait for a burst (or the warm-up message) to
	// reach every subscriber: past it the child reports a failure.
	fanoutWait = 2 * time.Minute
	// fanoutStallMax bounds the messages published after the timed run
	// until the stalled subscribers are closed (BenchmarkSlowConsumer).
	fanoutStallMax = 50_000
)

var fanoutBody = jsonText(fanoutSize)

// BenchmarkFanout publishes 1 KiB binary messages to 1,000 and 10,000
// subscribers over loopback, one op being one message to them all, in
// bursts (see fanoutBurst). It reports deliveries per second (subscribers ×
// messages over the time from each burst's first publish to the last
// subscriber's receipt of its last message), the median and 99th
// percentile of publish-to-receive latency, the server process's CPU time
// per delivery, and its heap and stack per subscriber once every
// subscriber has received one message.
func BenchmarkFanout(b *testing.B) {
	if err := raiseFileLimit(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		for _, l := range fanoutLibs {
			b.Run(fmt.Sprintf("%d/%s", n, l.name), func(b *testing.B) { fanout(b, l, n, 0) })
		}
	}
}

// fanout runs the benchmark with n subscribers, of which the first stalled
// never read: the others' receipts are waited for and measured.
func fanout(b *testing.B, l fanoutLib, n, stalled int) {
	heap0, stack0 := inuse()
	srv := l.serve(listen(b), l.mode)
	defer srv.stop()
	subs := startSubscribers(b, srv.url, n, stalled, l.mode)
	defer subs.close() // first: the server's connections end with them
	for deadline := time.Now().Add(fanoutWait); srv.subscribers() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribers subscribed", srv.subscribers(), n)
		}
	}

	var sent uint64
	publish := func() {
		sent++
		p := make([]byte, fanoutSize) // the server may keep it: never reused
		copy(p, fanoutBody)
		binary.BigEndian.PutUint64(p[8:], sent)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		if err := srv.publish(p); err != nil {
			b.Fatal(err)
		}
	}
	// One message warms every connection up before memory is measured.
	publish()
	subs.wait(sent)
	heap, stack := inuse()
	subs.reset()

	peak := sampleHeap()
	burst := max(1, fanoutBurst/n)
	cpu0 := cpuTime()
	var busy time.Duration // from each burst's first publish to its last receipt
	var start time.Time
	msgs := 0
	for b.Loop() {
		if msgs%burst == 0 {
			start = time.Now()
		}
		publish()
		if msgs++; msgs%burst == 0 {
			busy += subs.wait(sent).Sub(start)
		}
	}
	if msgs%burst != 0 {
		busy += subs.wait(sent).Sub(start)
	}
	cpu := cpuTime() - cpu0
	deliveries := float64(n-stalled) * float64(msgs)
	p50, p99, count, subsCPU := subs.latency()
	if count != uint64(deliveries) {
		b.Fatalf("%d latencies recorded for %.0f deliveries", count, deliveries)
	}
	b.ReportMetric(deliveries/busy.Seconds(), "deliveries/s")
	b.ReportMetric(float64(p50)/1e3, "p50-µs")
	b.ReportMetric(float64(p99)/1e3, "p99-µs")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/deliveries, "cpu-ns/delivery")
		// The subscribers share the machine's cores: what they take per
		// delivery bounds how much a leaner server can gain.
		b.ReportMetric(float64(subsCPU)/deliveries, "sub-cpu-ns/delivery")
	}
	b.ReportMetric(float64(heap-heap0)/float64(n), "heap-B/sub")
	b.ReportMetric(float64(stack-stack0)/float64(n), "stack-B/sub")
	if stalled > 0 && srv.slowDisconnects != nil {
		// Untimed: on until the stalled ones are closed, however short
		// the timed run was.
		for i := 0; srv.slowDisconnects() < uint64(stalled) && i < fanoutStallMax; i++ {
			publish()
			if i%burst == burst-1 {
				subs.wait(sent)
			}
		}
		subs.wait(sent)
		b.ReportMetric(float64(srv.slowDisconnects()), "slow-closed")
	}
	b.ReportMetric(float64(peak())/(1<<20), "heap-peak-MiB")
}

// sampleHeap samples the heap's size (live objects and those not yet
// swept) every millisecond until the returned function is called, which
// returns the largest sample.
func sampleHeap() (stop func() uint64) {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-t.C:
			case <-done:
				result <- peak
				return
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

// subscribers is the parent's end of the child process that holds the
// subscribers. It asks, one line on the child's stdin, and reads one line
// of answer from its stdout.
type subscribers struct {
	b      *testing.B
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
	ended  bool
}

// startSubscribers starts the child process and returns once its n
// subscribers are connected to url.
func startSubscribers(b *testing.B, url string, n, stalled int, m compMode) *subscribers {
	s := &subscribers{b: b, cmd: exec.Command(os.Args[0], "-test.run=^$")}
	s.cmd.Env = append(os.Environ(), envFanoutURL+"="+url, envFanoutSubs+"="+strconv.Itoa(n),
		envFanoutStalled+"="+strconv.Itoa(stalled), envFanoutMode+"="+strconv.Itoa(int(m)))
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	s.stdout = bufio.NewReader(stdout)
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if line := s.read(); line != "ready" {
		s.close()
		b.Fatalf("subscribers said %q", line)
	}
	return s
}

// read reads the child's next line; the child's stderr explains its end.
func (s *subscribers) read() string {
	line, err := s.stdout.ReadString('\n')
	if err != nil {
		s.end()
		s.b.Fatalf("subscribers: %v: %s", err, s.stderr.Bytes())
	}
	return strings.TrimSuffix(line, "\n")
}

func (s *subscribers) ask(format string, args ...any) []string {
	if _, err := fmt.Fprintf(s.stdin, format+"\n", args...); err != nil {
		s.b.Fatalf("subscribers: %v: %s", err, s.stderr.Bytes())
	}
	return strings.Fields(s.read())
}

// wait returns when every subscriber that reads has received the first n
// messages, with the time the last of them was received.
func (s *subscribers) wait(n uint64) time.Time {
	f := s.ask("wait %d", n)
	if len(f) != 2 || f[0] != "done" {
		s.b.Fatalf("subscribers said %q to wait", f)
	}
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	return time.Unix(0, ns)
}

// reset forgets the latencies recorded so far.
func (s *subscribers) reset() {
	if f := s.ask("reset"); len(f) != 1 || f[0] != "ok" {
		s.b.Fatalf("subscribers said %q to reset", f)
	}
}

// latency returns the median and 99th percentile of the latencies recorded
// since the last reset, in nanoseconds, how many there are, and the CPU
// time the subscribers' process used meanwhile.
func (s *subscribers) latency() (p50, p99 int64, count uint64, cpu time.Duration) {
	f := s.ask("latency")
	if len(f) != 5 || f[0] != "latency" {
		s.b.Fatalf("subscribers said %q to latency", f)
	}
	p50, _ = strconv.ParseInt(f[1], 10, 64)
	p99, _ = strconv.ParseInt(f[2], 10, 64)
	count, _ = strconv.ParseUint(f[3], 10, 64)
	ns, _ := strconv.ParseInt(f[4], 10, 64)
	return p50, p99, count, time.Duration(ns)
}

// close ends the child, which closes its connections.
func (s *subscribers) close() {
	if err := s.end(); err != nil {
		s.b.Errorf("subscribers: %v: %s", err, s.stderr.Bytes())
	}
}

func (s *subscribers) end() error {
	if s.ended {
		return nil
	}
	s.ended = true
	s.stdin.Close()
	return s.cmd.Wait()
}

// --- the child process

// fanoutClients connects the subscribers, says "ready", and answers the
// parent's requests (see subscribers) until stdin closes.
func fanoutClients(url string) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	n, err := strconv.Atoi(os.Getenv(envFanoutSubs))
	if err != nil {
		return err
	}
	mode, err := strconv.Atoi(os.Getenv(envFanoutMode))
	if err != nil {
		return err
	}
	m := compMode(mode)
	stalled, err := strconv.Atoi(os.Getenv(envFanoutStalled))
	if err != nil {
		return err
	}
	r := &receipts{signal: make(chan struct{}, 1), failed: make(chan error, 1)}
	conns := make([]*conn.Conn, n)
	// A few dialers at once: quicker than one, without overflowing the backlog.
	var next atomic.Int64
	var dialers sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		dialers.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				opts := &conn.DialOptions{Compression: m.config()}
				if i < stalled {
					// A small window, so that the server's queue, not
					// the kernel's buffers, soon holds what it cannot send.
					opts.NetDialContext = (&net.Dialer{Control: smallWindow}).DialContext
				}
				c, err := conn.Dial(context.Background(), url, opts)
				if err == nil && m != plain && !c.Compressed() {
					err = errors.New("compression not negotiated")
				}
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				if i < stalled {
					continue
				}
				go r.read(c)
			}
		})
	}
	dialers.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("ready")

	var cpu0 time.Duration // at the last reset
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "wait":
			k, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return err
			}
			last, err := r.wait(uint64(n-stalled) * k)
			if err != nil {
				return err
			}
			fmt.Println("done", last)
		case len(f) == 1 && f[0] == "reset":
			r.lat.reset()
			cpu0 = cpuTime()
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "latency":
			p50, p99, count := r.lat.percentiles()
			fmt.Println("latency", p50, p99, count, int64(cpuTime()-cpu0))
		default:
			return fmt.Errorf("unknown request %q", in.Text())
		}
	}
	r.closing.Store(true)
	for _, c := range conns {
		c.NetConn().Close()
	}
	return nil
}

// receipts counts what the subscribers receive.
type receipts struct {
	got    atomic.Uint64 // messages received, by all subscribers
	want   atomic.Uint64 // what wait waits for
	last   atomic.Int64  // the latest receipt, Unix nanoseconds
	signal chan struct{} // got reached want
	lat    latencies

	closing atomic.Bool // the parent is done: connections end
	failed  chan error
}

// read receives c's messages, checking that each is the next one
// published, whole.
func (r *receipts) read(c *conn.Conn) {
	var buf []byte
	for seq := uint64(1); ; seq++ {
		typ, msg, err := c.ReadMessage(context.Background(), buf)
		now := time.Now().UnixNano()
		if err == nil && (typ != conn.Binary || len(msg) != fanoutSize || binary.BigEndian.Uint64(msg[8:]) != seq) {
			err = fmt.Errorf("message %d: %d bytes of type %v, not the %d bytes of binary message %d", seq, len(msg), typ, fanoutSize, seq)
		}
		if err != nil {
			if !r.closing.Load() {
				select {
				case r.failed <- err:
				default:
				}
			}
			return
		}
		r.lat.record(now - int64(binary.BigEndian.Uint64(msg)))
		for l := r.last.Load(); now > l && !r.last.CompareAndSwap(l, now); l = r.last.Load() {
		}
		if r.got.Add(1) == r.want.Load() {
			select {
			case r.signal <- struct{}{}:
			default:
			}
		}
		buf = msg
	}
}

// wait returns when n messages have been received, with the time of the
// latest receipt.
func (r *receipts) wait(n uint64) (int64, error) {
	r.want.Store(n)
	timeout := time.After(fanoutWait)
	for r.got.Load() < n {
		select {
		case <-r.signal:
		case err := <-r.failed:
			return 0, err
		case <-timeout:
			return 0, fmt.Errorf("%d of %d messages received in %v", r.got.Load(), n, fanoutWait)
		}
	}
	if r.got.Load() > n {
		return 0, fmt.Errorf("%d messages received, %d published", r.got.Load(), n)
	}
	return r.last.Load(), nil
}

// latencies is a histogram of nanoseconds, safe for concurrent use. Values
// up to 64 have a bucket each; above, each power of two is cut into 32
// buckets, so that a percentile is within about 3% of the true value.
type latencies struct{ counts [60 * 32]atomic.Uint64 }

func latencyBucket(ns int64) int {
	v := uint64(max(ns, 0))
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(v) - 6
	return shift*32 + int(v>>shift)
}

// latencyValue is the middle of bucket i.
func latencyValue(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	shift := i/32 - 1
	return int64(i-shift*32)<<shift + 1<<shift/2
}

func (l *latencies) record(ns int64) { l.counts[latencyBucket(ns)].Add(1) }

func (l *latencies) reset() {
	for i := range l.counts {
		l.counts[i].Store(0)
	}
}

func (l *latencies) percentiles() (p50, p99 int64, count uint64) {
	for i := range l.counts {
		count += l.counts[i].Load()
	}
	at := func(q float64) int64 {
		rank := uint64(q*float64(count-1)) + 1
		var seen uint64
		for i := range l.counts {
			if seen += l.counts[i].Load(); seen >= rank {
				return latencyValue(i)
			}
		}
		return 0
	}
	if count == 0 {
		return 0, 0, 0
	}
	return at(0.50), at(0.99), count
}
