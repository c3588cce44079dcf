package natsbroker_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/natsbroker"
)

// natsServer starts a NATS server with JetStream on a loopback port, in
// cluster if given one, shut down when the test ends.
func natsServer(t testing.TB, name string, cluster server.ClusterOpts, routes []string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		Cluster:    cluster,
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("NATS server %s did not start", name)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// natsCluster starts n NATS servers with JetStream, clustered over loopback
// routes on ports free a moment before.
func natsCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	var lns []net.Listener
	var routes []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		routes = append(routes, "nats-route://"+ln.Addr().String())
	}
	var servers []*server.Server
	for i, ln := range lns {
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cluster := server.ClusterOpts{Name: "pushwire", Host: "127.0.0.1", Port: port}
		servers = append(servers, natsServer(t, "n"+strconv.Itoa(i), cluster, routes))
	}
	return servers
}

// A cluster of three NATS servers, a stream of three replicas, a
// pushwire.Server with its own Broker on each, and clients on every one:
// every client receives every publication of every node once, in order, at
// the same position, while the stream leader's NATS server is shut down
// midway.
func TestCluster(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	perNode, clientsPerNode := 60, 2
	if os.Getenv("NATSBROKER_FULL") != "" {
		// NATSBROKER_FULL=1 go test -run Cluster -v
		perNode, clientsPerNode = 2000, 20
	}
	const nodes = 3
	start := time.Now()
	nss := natsCluster(t, nodes)
	var urls []string
	for _, ns := range nss {
		urls = append(urls, ns.ClientURL())
	}
	var srvs []*pushwire.Server
	var httpURLs []string
	for i := range nodes {
		// Its own NATS server first, the others to fail over to.
		list := append(append([]string{}, urls[i:]...), urls[:i]...)
		ctx, cancel := context.WithTimeout(bg, 60*time.Second)
		b, err := natsbroker.Connect(ctx, strings.Join(list, ","),
			natsbroker.Options{Replicas: 3, Heartbeat: time.Second, Timeout: 30 * time.Second},
			nats.DontRandomize(), nats.ReconnectWait(100*time.Millisecond))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv := pushwire.NewServer(pushwire.Options{Broker: b})
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx) // closes b
			hs.Close()
		})
		srvs = append(srvs, srv)
		httpURLs = append(httpURLs, hs.URL)
	}
	t.Logf("cluster up in %v", time.Since(start))

	const topic = "room 1.*"
	type result struct {
		node int
		got  []pushwire.Event
		err  error
	}
	want := nodes * perNode
	results := make(chan result, nodes*clientsPerNode)
	for i := range nodes {
		for range clientsPerNode {
			c, err := pushwire.Dial(bg, httpURLs[i], &pushwire.ClientOptions{Topics: []string{topic}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			ev, err := c.Next(ctx)
			cancel()
			if err != nil || ev.Kind != pushwire.EventSubscribed {
				t.Fatalf("client of node %d: %+v, %v; want EventSubscribed", i, ev, err)
			}
			go func() {
				r := result{node: i}
				defer func() { results <- r }()
				ctx, cancel := context.WithTimeout(bg, 90*time.Second)
				defer cancel()
				for len(r.got) < want {
					ev, err := c.Next(ctx)
					if err != nil {
						r.err = fmt.Errorf("after %d of %d: %w", len(r.got), want, err)
						return
					}
					switch ev.Kind {
					case pushwire.EventPublication:
						r.got = append(r.got, ev)
					case pushwire.EventSubscribed:
					default:
						r.err = fmt.Errorf("after %d of %d: %+v", len(r.got), want, ev)
						return
					}
				}
			}()
		}
	}

	// Every node publishes; a third of the way, the stream leader's NATS
	// server goes.
	var published atomic.Int64
	killed := make(chan int, 1)
	go func() {
		for published.Load() < int64(want/3) {
			time.Sleep(time.Millisecond)
		}
		for i, ns := range nss {
			if ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, natsbroker.DefaultStream) {
				ns.Shutdown()
				killed <- i
				return
			}
		}
		killed <- -1
	}()
	pubStart := time.Now()
	var wg sync.WaitGroup
	for i, srv := range srvs {
		wg.Go(func() {
			for k := range perNode {
				ctx, cancel := context.WithTimeout(bg, 30*time.Second)
				_, err := srv.Publish(ctx, topic, pushwire.Text, fmt.Appendf(nil, "%d-%d", i, k))
				cancel()
				if err != nil {
					t.Errorf("node %d, publication %d: %v", i, k, err)
					return
				}
				published.Add(1)
				time.Sleep(2 * time.Millisecond) // a stream, not a burst
			}
		})
	}
	wg.Wait()
	leader := <-killed
	t.Logf("published %d in %v; NATS server n%d, the stream leader, shut down midway", want, time.Since(pubStart), leader)
	if leader < 0 {
		t.Error("no NATS server led the stream: none was shut down")
	}

	positions := map[string]pushwire.Position{} // by payload, as the first client got it
	for range nodes * clientsPerNode {
		r := <-results
		if r.err != nil {
			t.Fatalf("client of node %d: %v", r.node, r.err)
		}
		next := make([]int, nodes) // the next publication expected of each node
		for _, ev := range r.got {
			var from, k int
			if _, err := fmt.Sscanf(string(ev.Data), "%d-%d", &from, &k); err != nil || from < 0 || from >= nodes {
				t.Fatalf("client of node %d: publication %q", r.node, ev.Data)
			}
			if k != next[from] {
				t.Fatalf("client of node %d: %q after %d-%d (lost, repeated or out of order)", r.node, ev.Data, from, next[from]-1)
			}
			next[from]++
			if p, ok := positions[string(ev.Data)]; ok && p != ev.Position {
				t.Fatalf("client of node %d: %q at %v, another client got it at %v", r.node, ev.Data, ev.Position, p)
			}
			positions[string(ev.Data)] = ev.Position
		}
	}
	t.Logf("%d clients on %d nodes each received %d publications once, in order, in %v", nodes*clientsPerNode, nodes, want, time.Since(pubStart))
}
