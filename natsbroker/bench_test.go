package natsbroker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/natsbroker"
)

// The cluster fan-out benchmark's subscribers run in a child process (this
// test binary again), spread over the nodes' URLs.
const (
	envBenchURLs = "PUSHWIRE_NATSBENCH_URLS"
	envBenchSubs = "PUSHWIRE_NATSBENCH_SUBS"
)

func TestMain(m *testing.M) {
	if urls := os.Getenv(envBenchURLs); urls != "" {
		if err := benchClients(strings.Split(urls, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "subscribers:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	benchSubs  = 10000
	benchSize  = 1 << 10
	benchBurst = 10 // messages per burst: 100,000 deliveries
	benchTopic = "fanout"
)

// BenchmarkClusterFanout publishes 1 KiB messages to 10,000 WebSocket
// subscribers spread over 1, 2 or 3 pushwire nodes, round robin from every
// node, in bursts of 10 (the next waits for the last receipt). memory is
// one node on the in-process broker, embedded one node on an Embedded NATS
// server, r3 the nodes on a cluster of three NATS servers holding the
// stream on three replicas, each node on its own. It reports deliveries
// per second and publish-to-receive latency; everything but the
// subscribers (NATS servers and nodes) runs in this process, whose CPU
// time per delivery it reports too.
func BenchmarkClusterFanout(b *testing.B) {
	if err := raiseFileLimit(); err != nil {
		b.Fatal(err)
	}
	b.Run("memory", func(b *testing.B) {
		clusterFanout(b, []pushwire.Broker{pushwire.NewMemoryBroker(pushwire.History{})})
	})
	b.Run("embedded", func(b *testing.B) {
		clusterFanout(b, []pushwire.Broker{embedded(b, natsbroker.Options{})})
	})
	for _, nodes := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("r3/%d-nodes", nodes), func(b *testing.B) {
			nss := natsCluster(b, 3)
			var brokers []pushwire.Broker
			for i := range nodes {
				brokers = append(brokers, connect(b, nss[i], natsbroker.Options{Replicas: 3}))
			}
			clusterFanout(b, brokers)
		})
	}
}

func clusterFanout(b *testing.B, brokers []pushwire.Broker) {
	var subscribed atomic.Int64
	var servers []*pushwire.Server
	var urls []string
	for _, br := range brokers {
		srv := pushwire.NewServer(pushwire.Options{Broker: br, OnOpen: func(s *pushwire.Session) {
			if s.Subscribe(benchTopic) == nil {
				subscribed.Add(1)
			}
		}})
		hs := httptest.NewServer(srv)
		b.Cleanup(func() {
			srv.Shutdown(context.Background())
			hs.Close()
		})
		servers = append(servers, srv)
		urls = append(urls, "ws"+strings.TrimPrefix(hs.URL, "http")+"/")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envBenchURLs+"="+strings.Join(urls, ","), envBenchSubs+"="+strconv.Itoa(benchSubs))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	ask := func(req string) []string {
		fmt.Fprintln(stdin, req)
		line, err := out.ReadString('\n')
		if err != nil {
			b.Fatalf("subscribers: %v: %s", err, stderr.String())
		}
		return strings.Fields(line)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	if f := ask("ready"); len(f) != 1 || f[0] != "ready" {
		b.Fatalf("subscribers said %q: %s", f, stderr.String())
	}
	for deadline := time.Now().Add(2 * time.Minute); subscribed.Load() < benchSubs; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribed", subscribed.Load(), benchSubs)
		}
	}
	var sent uint64
	payload := make([]byte, benchSize)
	publish := func() {
		sent++
		binary.BigEndian.PutUint64(payload[8:], sent)
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		srv := servers[int(sent)%len(servers)]
		if _, err := srv.Publish(context.Background(), benchTopic, pushwire.Binary, slices.Clone(payload)); err != nil {
			b.Fatal(err)
		}
	}
	wait := func() time.Time {
		f := ask("wait " + strconv.FormatUint(sent, 10))
		if len(f) != 2 || f[0] != "done" {
			b.Fatalf("subscribers said %q: %s", f, stderr.String())
		}
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		return time.Unix(0, ns)
	}
	publish() // warms every path up
	wait()
	ask("reset")
	cpu0 := cpuTime()
	var busy time.Duration
	var start time.Time
	msgs := 0
	for b.Loop() {
		if msgs%benchBurst == 0 {
			start = time.Now()
		}
		publish()
		if msgs++; msgs%benchBurst == 0 {
			busy += wait().Sub(start)
		}
	}
	if msgs%benchBurst != 0 {
		busy += wait().Sub(start)
	}
	cpu := cpuTime() - cpu0
	f := ask("latency")
	if len(f) != 3 {
		b.Fatalf("subscribers said %q", f)
	}
	p50, _ := strconv.ParseFloat(f[1], 64)
	p99, _ := strconv.ParseFloat(f[2], 64)
	deliveries := float64(benchSubs * msgs)
	b.ReportMetric(deliveries/busy.Seconds(), "deliveries/s")
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
}

// benchClients connects the subscribers, spread over urls, and answers the
// parent: "ready", "wait N" (every subscriber has message N: "done" and
// the last receipt's time), "reset" and "latency" (p50 and p99 in ms).
func benchClients(urls []string) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	n, err := strconv.Atoi(os.Getenv(envBenchSubs))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Uint64 // receipts of all subscribers
	var last atomic.Int64
	failed := make(chan error, 1)
	read := func(c *conn.Conn) {
		var buf []byte
		for seq := uint64(1); ; seq++ {
			_, msg, err := c.ReadMessage(context.Background(), buf)
			if err != nil {
				return // the parent is done
			}
			now := time.Now()
			if len(msg) != benchSize || binary.BigEndian.Uint64(msg[8:]) != seq {
				select {
				case failed <- fmt.Errorf("message %d: %d bytes, sequence %d", seq, len(msg), binary.BigEndian.Uint64(msg[8:])):
				default:
				}
				return
			}
			d := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(msg))))
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			last.Store(now.UnixNano())
			got.Add(1)
			buf = msg
		}
	}
	var dialers sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		dialers.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := conn.Dial(context.Background(), urls[i%len(urls)], nil)
				if err != nil {
					errs <- err
					return
				}
				go read(c)
			}
		})
	}
	dialers.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 1 && f[0] == "ready":
			fmt.Println("ready")
		case len(f) == 2 && f[0] == "wait":
			k, _ := strconv.ParseUint(f[1], 10, 64)
			deadline := time.Now().Add(2 * time.Minute)
			for got.Load() < uint64(n)*k {
				select {
				case err := <-failed:
					return err
				default:
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%d of %d receipts", got.Load(), uint64(n)*k)
				}
				time.Sleep(100 * time.Microsecond)
			}
			fmt.Println("done", last.Load())
		case len(f) == 1 && f[0] == "reset":
			mu.Lock()
			lat = lat[:0]
			mu.Unlock()
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "latency":
			mu.Lock()
			slices.Sort(lat)
			ms := func(q float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[int(q*float64(len(lat)-1))]) / 1e6
			}
			fmt.Println("latency", ms(0.5), ms(0.99))
			mu.Unlock()
		default:
			return fmt.Errorf("unknown request %q", in.Text())
		}
	}
	return nil
}

// raiseFileLimit raises the soft limit on descriptors to the hard one: the
// nodes, and the subscribers, hold 10,000 connections each.
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHistory reads a chunk of a topic's history, as a resume's replay
// does (256 publications), from a stream where another topic's 1 KiB
// publications alternate with the topic's: on an Embedded server, and on
// the leader's side of a three-server cluster holding the stream on three
// replicas. It reports the time per publication read.
func BenchmarkHistory(b *testing.B) {
	const chunk = 256
	for _, r := range []struct {
		name string
		make func(b *testing.B) pushwire.Broker
	}{
		{"embedded", func(b *testing.B) pushwire.Broker { return embedded(b, natsbroker.Options{}) }},
		{"r3", func(b *testing.B) pushwire.Broker {
			return connect(b, natsCluster(b, 3)[0], natsbroker.Options{Replicas: 3})
		}},
	} {
		b.Run(r.name, func(b *testing.B) {
			br := r.make(b)
			msg := make([]byte, benchSize)
			var since pushwire.Position
			for i := range chunk {
				pos, err := br.Publish(bg, "replayed", pushwire.Binary, msg)
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					since = pos
					since.Offset--
				}
				if _, err := br.Publish(bg, "other", pushwire.Binary, msg); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				pubs, _, err := br.History(bg, "replayed", since, chunk)
				if err != nil || len(pubs) != chunk {
					b.Fatalf("History: %d publications, %v", len(pubs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*chunk), "us/publication")
		})
	}
}
