//go:build unix

package natsbroker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// balancer is a load balancer in front of pushwire nodes, as the README's
// Deployment section describes one: each new connection (a WebSocket
// upgrade, a long-poll open) goes to the next backend in turn, so that a
// client that reconnects lands anywhere; the polls and sends of a long-poll
// session go to the node that opened it (a real balancer does this with a
// cookie or source-IP affinity; this one learns each open's node from its
// answer, or from the answer of a node that adopted the session). Requests
// under /roam/ have no affinity at all: each goes to the next backend in
// turn, whatever its session, so that a lone client's requests go to each
// node in turn; a node that does not know the session adopts it
// (longpoll.Options.Adopt). A backend that fails a request is left out
// until its /healthz answers 200 again.
type balancer struct {
	backends []*backend
	next     atomic.Uint64
	client   *http.Client // health checks
	stop     context.CancelFunc
	checks   sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]int // long-poll session id -> backend

	// roaming counts the /roam/ requests, adopted the ones a node answered
	// by adopting the session, roamed404 those answered 404.
	roamNext                    atomic.Uint64
	roaming, adopted, roamed404 atomic.Int64
}

type backend struct {
	base  *url.URL
	proxy *httputil.ReverseProxy
	down  atomic.Bool
	// requests counts the requests sent to it.
	requests atomic.Int64
}

// newBalancer balances over the nodes at bases (http://host:port); Close
// stops its health checks.
func newBalancer(bases []string) *balancer {
	transport := &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	lb := &balancer{client: &http.Client{Timeout: time.Second, Transport: transport}, stop: cancel, sessions: map[string]int{}}
	for i, b := range bases {
		u, err := url.Parse(b)
		if err != nil {
			panic(err)
		}
		be := &backend{base: u}
		be.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.URL.Path = strings.TrimPrefix(pr.Out.URL.Path, "/roam")
				pr.Out.URL.RawPath = ""
				pr.Out.Host = pr.In.Host // the page's origin is the balancer's
				pr.SetXForwarded()
			},
			Transport:     transport,
			FlushInterval: -1, // long polls' answers as they come
			ModifyResponse: func(resp *http.Response) error {
				lb.learn(i, resp)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if r.Context().Err() == nil {
					be.down.Store(true) // the backend failed, not the client
				}
				http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
			},
		}
		lb.backends = append(lb.backends, be)
	}
	lb.checks.Go(func() { lb.check(ctx) })
	return lb
}

// ServeHTTP sends r to the backend of its long-poll session, or to the
// next backend that is up.
func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/roam/") {
		lb.roaming.Add(1)
		r = r.WithContext(context.WithValue(r.Context(), roamKey{}, true))
		for range lb.backends {
			be := lb.backends[(lb.roamNext.Add(1)-1)%uint64(len(lb.backends))]
			if !be.down.Load() {
				be.requests.Add(1)
				be.proxy.ServeHTTP(w, r)
				return
			}
		}
	} else if id := sessionOf(r); id != "" {
		lb.mu.Lock()
		i, ok := lb.sessions[id]
		lb.mu.Unlock()
		if ok && !lb.backends[i].down.Load() {
			lb.backends[i].requests.Add(1)
			lb.backends[i].proxy.ServeHTTP(w, r)
			return
		}
	}
	for range lb.backends {
		be := lb.backends[lb.next.Add(1)%uint64(len(lb.backends))]
		if !be.down.Load() {
			be.requests.Add(1)
			be.proxy.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "balancer: no backend up", http.StatusServiceUnavailable)
}

// roamKey marks the context of a request under /roam/.
type roamKey struct{}

// sessionOf returns the id of the long-poll session r polls or sends on,
// or "".
func sessionOf(r *http.Request) string {
	switch path.Base(r.URL.Path) {
	case "poll", "send":
		if id := r.URL.Query().Get("id"); id != "" {
			return id
		}
		return r.Header.Get("Pushwire-Session")
	}
	return ""
}

// learn notes which backend opened or adopted a long-poll session, from
// the answer, and forgets a session its backend says it does not know.
func (lb *balancer) learn(i int, resp *http.Response) {
	r := resp.Request // the outgoing one, with the incoming one's context
	roam := r.Context().Value(roamKey{}) != nil
	switch op := path.Base(r.URL.Path); {
	case op == "open" && resp.StatusCode == http.StatusOK && !roam:
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var reply struct{ ID string }
		if err == nil && json.Unmarshal(body, &reply) == nil && reply.ID != "" {
			lb.mu.Lock()
			lb.sessions[reply.ID] = i
			lb.mu.Unlock()
		}
	case resp.Header.Get("Pushwire-Session") != "":
		// A node adopted the session (its own node is gone): its requests
		// go there from now on, as after an open.
		if roam {
			lb.adopted.Add(1)
			return
		}
		lb.mu.Lock()
		delete(lb.sessions, sessionOf(r))
		lb.sessions[resp.Header.Get("Pushwire-Session")] = i
		lb.mu.Unlock()
	case (op == "poll" || op == "send") && resp.StatusCode == http.StatusNotFound:
		if roam {
			lb.roamed404.Add(1)
			return
		}
		lb.mu.Lock()
		delete(lb.sessions, sessionOf(r))
		lb.mu.Unlock()
	}
}

// markDown leaves backend i out until it is healthy again.
func (lb *balancer) markDown(i int) { lb.backends[i].down.Store(true) }

// check brings back the backends that are down once they are healthy.
func (lb *balancer) check(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for _, be := range lb.backends {
			if be.down.Load() && healthy(ctx, lb.client, be.base.String()) {
				be.down.Store(false)
			}
		}
	}
}

// Close stops the health checks and closes idle connections.
func (lb *balancer) Close() {
	lb.stop()
	lb.checks.Wait()
	lb.client.CloseIdleConnections()
}
