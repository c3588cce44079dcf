//go:build unix

package natsbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/natsbroker"
)

// The size of TestProcesses: the default takes about a minute and a half
// under -race on two cores; PUSHWIRE_CLUSTER_FULL=1 is the issue's
// acceptance size. Publishing is paced over publishFor, so that the
// failures land among a steady stream rather than after a burst.
const (
	processClients, processMessages, processPublishFor             = 60, 6000, 30 * time.Second
	processClientsFull, processMessagesFull, processPublishForFull = 300, 100_000, 180 * time.Second
	processTopics                                                  = 10
	processRoamers                                                 = 2
)

// TestProcesses is the acceptance run of a cluster of separate processes:
// three NATS servers (in the test's process, clustered over loopback
// routes, the stream on three replicas) and three pushnode processes
// behind a round-robin balancer (proxy_test.go). Go clients, half on
// WebSocket and half on long polling, subscribe to some of ten topics
// through the balancer, and so do two long-polling clients whose every
// request goes to any node, and three Chromium pages (when chromium is
// installed) with pushwire.js. Messages are published on every topic
// through every node's /publish. Midway a pushnode is killed with SIGKILL
// and the NATS server leading the stream is shut down; later both come
// back. Every client and page must receive every message of its topics
// exactly once, in offset order, at the offset its publish returned: none
// lost, none repeated, no EventLost; then the restarted pushnode must
// serve and the restarted NATS server's replica catch up.
//
//	PUSHWIRE_CLUSTER=1 go test -run TestProcesses -v
//	PUSHWIRE_CLUSTER=1 PUSHWIRE_CLUSTER_FULL=1 go test -run TestProcesses -v -timeout 20m
func TestProcesses(t *testing.T) {
	if os.Getenv("PUSHWIRE_CLUSTER") == "" {
		t.Skip("the multi-process cluster run is gated: PUSHWIRE_CLUSTER=1 go test -run TestProcesses (make test-cluster)")
	}
	t.Cleanup(leaktest.Check(t))
	nClients, nMessages, publishFor := processClients, processMessages, processPublishFor
	if os.Getenv("PUSHWIRE_CLUSTER_FULL") != "" {
		nClients, nMessages, publishFor = processClientsFull, processMessagesFull, processPublishForFull
	}
	perTopic := nMessages / processTopics
	start := time.Now()

	bin := buildPushnode(t)
	nss := restartableCluster(t, 3)
	var nodes []*pushnode
	t.Cleanup(func() { stopPushnodes(t, nodes) })
	for i := range nss {
		// Its own NATS server first, the others to fail over to.
		var urls []string
		for k := range nss {
			urls = append(urls, nss[(i+k)%len(nss)].url())
		}
		nodes = append(nodes, startPushnode(t, "pushnode"+strconv.Itoa(i), bin,
			"-nats", strings.Join(urls, ","), "-replicas", "3", "-publish",
			"-heartbeat", "1s", "-timeout", "30s",
			// The whole run's history, by count and by age, so that only
			// a failure, not a client slowed by the machine, can make a gap.
			"-history", strconv.Itoa(perTopic+1), "-max-age", "1h"))
	}
	var bases []string
	for _, n := range nodes {
		bases = append(bases, n.url())
	}
	// Cleanups run last first: the clients close, then the front door
	// and the balancer, then the nodes stop, then NATS.
	lb := newBalancer(bases)
	t.Cleanup(lb.Close)
	pages := newPageHost(lb)
	front := httptest.NewServer(pages)
	t.Cleanup(front.Close)
	t.Logf("%d NATS servers, %d pushnode processes and the balancer up in %v", len(nss), len(nodes), time.Since(start).Round(time.Millisecond))

	topics := make([]string, processTopics)
	for i := range topics {
		topics[i] = "room." + strconv.Itoa(i)
	}
	// Until a minute before go test's -timeout, for the cleanups.
	deadline := time.Now().Add(9 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// The clients, each subscribed before anything is published.
	subscribeStart := time.Now()
	var clients []*tally
	dial := func(name, transport, base string, ks []int) {
		tl := newTally(name, transport, ks, perTopic)
		opts := &pushwire.ClientOptions{Transport: transport, DialTimeout: 10 * time.Second}
		for _, k := range tl.topics {
			opts.Topics = append(opts.Topics, topics[k])
		}
		if transport == "longpoll" {
			// Its own connections, as a browser on a machine of its own.
			hc := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(hc.CloseIdleConnections)
			opts.HTTPClient = hc
		}
		c, err := pushwire.Dial(ctx, base, opts)
		if err != nil {
			t.Fatalf("%s: %v", tl.name, err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, tl)
		go tl.receive(ctx, c)
	}
	for i := range nClients {
		transport := []string{"websocket", "longpoll"}[i%2]
		dial(fmt.Sprintf("client %d (%s)", i, transport), transport, front.URL+"/push/", pickTopics(i))
	}
	// Long-poll clients whose every request goes to any node, session or
	// not: each poll or send that reaches another node than its session's
	// is answered 404, and the client opens a session where it lands and
	// resumes.
	for i := range processRoamers {
		dial(fmt.Sprintf("roaming client %d (longpoll)", i), "longpoll", front.URL+"/roam/push/", pickTopics(2000+i))
	}
	for _, tl := range clients {
		select {
		case <-tl.ready:
		case <-ctx.Done():
			t.Fatalf("%s: not subscribed: %v", tl.name, ctx.Err())
		}
	}
	browsers := startPages(t, ctx, pages, front.URL, topics, perTopic)
	t.Logf("%d clients subscribed in %v; %d Chromium pages", nClients, time.Since(subscribeStart).Round(time.Millisecond), len(browsers))

	// Publishing, through every node that is up; the failures on the way.
	pub := newPublisher(nodes, topics, perTopic)
	defer pub.client.CloseIdleConnections()
	natsDown := -1            // the NATS server shut down
	var restartRequests int64 // the balancer's requests to pushnode1 when it came back
	failures := []failure{
		{at: 0.20, what: "pushnode1 killed with SIGKILL", do: func() {
			pub.setDown(1, true) // nothing in flight to it: each publish's fate is known
			lb.markDown(1)
			nodes[1].kill()
		}},
		{at: 0.35, what: "the NATS server leading the stream shut down", do: func() {
			for i, ns := range nss {
				if ns.leadsStream(natsbroker.DefaultStream) {
					ns.shutdown()
					natsDown = i
					return
				}
			}
			t.Error("no NATS server leads the stream")
		}},
		{at: 0.55, what: "the NATS server started again", do: func() {
			if natsDown >= 0 {
				nss[natsDown].start()
			}
		}},
		{at: 0.70, what: "pushnode1 started again", do: func() {
			if err := nodes[1].start(); err != nil {
				t.Error(err)
				return
			}
			restartRequests = lb.backends[1].requests.Load()
			pub.setDown(1, false) // the balancer's health check finds it too
		}},
	}
	pubStart := time.Now()
	pub.run(ctx, t, publishFor, failures)
	pubTime := time.Since(pubStart)
	t.Logf("published %d messages on %d topics in %v", nMessages, processTopics, pubTime.Round(time.Millisecond))
	for _, f := range failures {
		t.Logf("  at %2.0f%% (%v): %s", 100*f.at, f.when.Round(time.Millisecond), f.what)
	}

	// Every client gets all, then the comparison; meanwhile, every 20 s,
	// who is still waiting.
	waiting := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-waiting:
				return
			}
			var left []string
			for _, tl := range clients {
				select {
				case <-tl.done:
				default:
					left = append(left, tl.name)
				}
			}
			t.Logf("%v after the first publish, still waiting for %d clients %q, pages %s",
				time.Since(pubStart).Round(time.Second), len(left), left, pages.progress())
		}
	}()
	for _, tl := range clients {
		<-tl.done // at the latest when ctx ends
	}
	pageResults := waitPages(t, ctx, pages, browsers, perTopic)
	close(waiting)
	deliveryEnd := time.Since(pubStart)
	var lost, dup, deliveries, reconnected, moved, failed int
	check := func(name string, tl *tally) {
		l, d := tl.compare(pub.offsets)
		lost += l
		dup += d
		deliveries += tl.received
		if tl.err != nil {
			failed++
			t.Errorf("%s: %v", name, tl.err)
		}
		if l > 0 || d > 0 {
			t.Errorf("%s: %d missing, %d duplicated or out of order (first: %s)", name, l, d, tl.firstBad)
		}
		if tl.subscribed > len(tl.topics) {
			reconnected++
		}
	}
	for _, tl := range clients {
		check(tl.name, tl)
		if tl.subscribed > len(tl.topics) && tl.transport == "websocket" {
			moved++
		}
	}
	for _, tl := range pageResults {
		check(tl.name, tl)
	}
	if moved == 0 {
		t.Error("no WebSocket client reconnected: the kill reached none")
	}
	// Healed: the restarted pushnode serves, the restarted NATS server's
	// replica of the stream caught up.
	if n := lb.backends[1].requests.Load() - restartRequests; n == 0 {
		t.Error("the balancer sent no request to pushnode1 once it was back")
	} else {
		t.Logf("pushnode1 served %d requests once back", n)
	}
	if natsDown >= 0 {
		deadline := time.Now().Add(30 * time.Second)
		for !nss[natsDown].streamCurrent(natsbroker.DefaultStream) {
			if time.Now().After(deadline) {
				t.Errorf("NATS server n%d's replica of the stream did not catch up within 30 s", natsDown)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var reqs []string
	for i, be := range lb.backends {
		reqs = append(reqs, fmt.Sprintf("pushnode%d %d", i, be.requests.Load()))
	}
	t.Logf("balancer requests: %s; %d roaming requests (each to the next node in turn), %d answered by a node that adopted the session, %d answered 404",
		strings.Join(reqs, ", "), lb.roaming.Load(), lb.adopted.Load(), lb.roamed404.Load())
	if lb.adopted.Load() == 0 {
		t.Error("no roaming request was answered by a node that adopted its session")
	}
	slowest := map[string]time.Duration{}
	for _, tl := range clients {
		group := tl.transport
		if strings.HasPrefix(tl.name, "roaming") {
			group = "roaming"
		}
		slowest[group] = max(slowest[group], tl.doneAt.Sub(pubStart))
	}
	t.Logf("last delivery after the first publish: WebSocket %v, long polling %v, roaming long polling %v",
		slowest["websocket"].Round(time.Millisecond), slowest["longpoll"].Round(time.Millisecond), slowest["roaming"].Round(time.Millisecond))
	t.Logf("figures: %d Go clients (%d WebSocket, %d long polling, %d of them roaming) and %d Chromium pages, %d messages on %d topics, %d deliveries; "+
		"1 pushnode SIGKILLed and restarted, 1 NATS server (the stream leader) shut down and restarted; "+
		"%d clients reconnected (%d WebSocket); missing %d, duplicated %d, clients stopped by an error %d; published in %v, all delivered %v after the first publish, whole run %v",
		len(clients), (nClients+1)/2, nClients/2+processRoamers, processRoamers, len(pageResults), nMessages, processTopics, deliveries,
		reconnected, moved, lost, dup, failed, pubTime.Round(time.Millisecond),
		deliveryEnd.Round(time.Millisecond), time.Since(start).Round(time.Second))
}

// pickTopics gives client i one to four of the topics, the same on every
// run; every topic has subscribers.
func pickTopics(i int) []int {
	r := rand.New(rand.NewPCG(uint64(i), 17))
	ks := []int{i % processTopics}
	for _, k := range r.Perm(processTopics)[:r.IntN(4)] {
		if k != ks[0] {
			ks = append(ks, k)
		}
	}
	return ks
}

// A failure is something done to the cluster once the publishers are at
// fraction at of their messages.
type failure struct {
	at   float64
	what string
	do   func()
	when time.Duration // after the first publish
}

// publisher publishes perTopic messages on each topic through the nodes'
// /publish, and records the offset each got. Message k of topic i is
// "i:k"; the messages of a topic are published concurrently, so their
// offsets need not follow k.
type publisher struct {
	nodes    []*pushnode
	topics   []string
	perTopic int
	client   *http.Client

	// offsets[i][k] is message k of topic i's offset.
	offsets [][]uint64
	epoch   atomic.Pointer[string]
	count   atomic.Int64

	mu   sync.RWMutex // held shared while a publish is in flight
	down []bool
}

func newPublisher(nodes []*pushnode, topics []string, perTopic int) *publisher {
	p := &publisher{nodes: nodes, topics: topics, perTopic: perTopic, down: make([]bool, len(nodes)),
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for range topics {
		p.offsets = append(p.offsets, make([]uint64, perTopic))
	}
	return p
}

// setDown takes node i out of the publishers' turn (or back), once no
// publish to it is in flight.
func (p *publisher) setDown(i int, down bool) {
	p.mu.Lock()
	p.down[i] = down
	p.mu.Unlock()
}

// run publishes everything, paced over d, doing each failure when its time
// comes; a publish that fails fails the test.
func (p *publisher) run(ctx context.Context, t *testing.T, d time.Duration, failures []failure) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	total := int64(len(p.topics) * p.perTopic)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range failures {
			f := &failures[i]
			for p.count.Load() < int64(f.at*float64(total)) {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			f.when = time.Since(start)
			f.do()
		}
	})
	// Each node has a publisher per topic, which publishes every
	// len(nodes)-th message of it (through the next node while its own is
	// down): a topic's messages go through every node, concurrently.
	interval := d / time.Duration(p.perTopic)
	for i := range p.topics {
		for n := range p.nodes {
			wg.Go(func() {
				for k := n; k < p.perTopic; k += len(p.nodes) {
					if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
						time.Sleep(wait)
					}
					if err := p.publish(ctx, i, k, n); err != nil {
						if ctx.Err() == nil {
							t.Errorf("publishing %d:%d: %v", i, k, err)
						}
						cancel()
						return
					}
					p.count.Add(1)
				}
			})
		}
	}
	wg.Wait()
}

// publish publishes message k of topic i through node n, or the next that
// is up.
func (p *publisher) publish(ctx context.Context, i, k, n int) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for p.down[n] {
		n = (n + 1) % len(p.nodes)
	}
	u := p.nodes[n].url() + "/publish?topic=" + p.topics[i]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(fmt.Sprintf("%d:%d", i, k)))
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pushnode%d: %s: %s", n, resp.Status, body)
	}
	var pos struct {
		Epoch  string
		Offset uint64
	}
	if err := json.Unmarshal(body, &pos); err != nil {
		return fmt.Errorf("pushnode%d: %q: %v", n, body, err)
	}
	if old := p.epoch.Swap(&pos.Epoch); old != nil && *old != pos.Epoch {
		return fmt.Errorf("pushnode%d: epoch %s, was %s", n, pos.Epoch, *old)
	}
	p.offsets[i][k] = pos.Offset
	return nil
}

// tally is what one client (or page) received, checked as it comes.
type tally struct {
	name      string
	transport string
	topics    []int
	perTopic  int

	// offsets[i][k] is the offset message k of topic i came with, 0 until
	// it came; last[i] the last offset of topic i.
	offsets    map[int][]uint64
	last       map[int]uint64
	received   int
	dup        int             // received again, or at an offset not above the last
	subscribed int             // EventSubscribed events: one per topic and connection
	live       map[string]bool // the topics subscribed to at least once
	firstBad   string
	err        error     // an event no client should get (EventLost, ...)
	doneAt     time.Time // when everything had arrived

	ready chan struct{} // closed once subscribed to every topic
	done  chan struct{} // closed once everything arrived, or on an error
}

func newTally(name, transport string, topics []int, perTopic int) *tally {
	tl := &tally{name: name, transport: transport, topics: topics, perTopic: perTopic, offsets: map[int][]uint64{}, last: map[int]uint64{},
		live: map[string]bool{}, ready: make(chan struct{}), done: make(chan struct{})}
	for _, k := range topics {
		tl.offsets[k] = make([]uint64, perTopic)
	}
	return tl
}

// receive reads c's events until everything arrived or ctx ends.
func (tl *tally) receive(ctx context.Context, c *pushwire.Client) {
	defer close(tl.done)
	remaining := len(tl.topics) * tl.perTopic
	defer func() { tl.doneAt = time.Now() }()
	for remaining > 0 {
		ev, err := c.Next(ctx)
		if err != nil {
			tl.err = fmt.Errorf("after %d messages: %w", tl.received, err)
			return
		}
		switch ev.Kind {
		case pushwire.EventSubscribed:
			tl.subscribed++
			if !tl.live[ev.Topic] {
				tl.live[ev.Topic] = true
				if len(tl.live) == len(tl.topics) {
					close(tl.ready) // every topic has a position to resume from
				}
			}
		case pushwire.EventPublication:
			if tl.add(ev.Topic, ev.Position.Offset, string(ev.Data)) {
				remaining--
			}
		default:
			tl.err = fmt.Errorf("after %d messages: event %+v", tl.received, ev)
			if len(tl.live) < len(tl.topics) {
				close(tl.ready)
			}
			return
		}
	}
}

// add takes message data at offset on topic; it reports whether it is one
// not received before.
func (tl *tally) add(topic string, offset uint64, data string) bool {
	tl.received++
	var i, k int
	if _, err := fmt.Sscanf(data, "%d:%d", &i, &k); err != nil || topic != "room."+strconv.Itoa(i) || tl.offsets[i] == nil || k < 0 || k >= tl.perTopic {
		tl.bad(fmt.Sprintf("%q on %q", data, topic))
		return false
	}
	fresh := tl.offsets[i][k] == 0
	if !fresh || offset <= tl.last[i] {
		tl.dup++
		tl.bad(fmt.Sprintf("%q at %d after offset %d", data, offset, tl.last[i]))
	}
	if offset > tl.last[i] {
		tl.last[i] = offset
	}
	if fresh {
		tl.offsets[i][k] = offset
	}
	return fresh
}

func (tl *tally) bad(what string) {
	if tl.firstBad == "" {
		tl.firstBad = what
	}
}

// compare counts the messages published but not received (by the end, or
// at all), or received at another offset than published, and those
// received more than once.
func (tl *tally) compare(published [][]uint64) (missing, dup int) {
	for _, i := range tl.topics {
		for k, want := range published[i] {
			var off uint64
			if k < len(tl.offsets[i]) {
				off = tl.offsets[i][k]
			}
			if off != want {
				missing++
				tl.bad(fmt.Sprintf("%d:%d at offset %d, published at %d", i, k, off, want))
			}
		}
	}
	return missing, tl.dup
}
