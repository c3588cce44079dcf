// Command pushnode is one node of a pushwire cluster: a pushwire.Server
// under /push/ on a natsbroker.Broker, so that a publication on any node
// reaches the clients of every node, and a client that loses its node
// resumes on another from the shared history.
//
//	pushnode -addr :8080 -nats nats://n1:4222,nats://n2:4222,nats://n3:4222 -replicas 3
//	pushnode -addr :8080 -embedded /var/lib/pushnode   # one node, NATS in the process
//
// It serves, on -addr:
//
//	/push/          the pushwire endpoint: WebSocket, long polling, /push/pushwire.js
//	GET /healthz    200 while the node serves, 503 once it shuts down
//	POST /publish?topic=T
//	                with -publish only: publishes the body on T (text if it
//	                is UTF-8, else binary) and answers {"epoch":..,"offset":..}
//
// /publish has no authentication: enable it only where the listener is not
// reachable by clients (tests, a private network), or route only /push/ to
// the node. SIGINT and SIGTERM shut the node down: its clients read 1001
// and reconnect to the other nodes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/natsbroker"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (port 0: any free port, printed on stdout)")
	urls := flag.String("nats", "", "NATS server URLs, comma-separated: every server of the cluster")
	embedded := flag.String("embedded", "", "run NATS in the process, storing in this directory, instead of -nats")
	replicas := flag.Int("replicas", 1, "replicas of the stream: 3 on a cluster of three NATS servers")
	history := flag.Int("history", pushwire.DefaultHistoryMessages, "publications kept per topic for clients to resume from")
	maxAge := flag.Duration("max-age", pushwire.DefaultHistoryAge, "age past which publications leave the history")
	heartbeat := flag.Duration("heartbeat", natsbroker.DefaultHeartbeat, "idle heartbeat of the live subscriptions: bounds a stall after a NATS server is lost")
	timeout := flag.Duration("timeout", natsbroker.DefaultTimeout, "bound of each broker call, failovers included")
	creds := flag.String("creds", "", "NATS credentials file")
	ca := flag.String("ca", "", "CA certificate file for NATS over TLS (tls:// URLs)")
	ping := flag.Duration("ping", 25*time.Second, "WebSocket ping after this long without a frame from the client: keep the balancer's idle timeout above it")
	publish := flag.Bool("publish", false, "serve POST /publish (unauthenticated: for tests and private networks)")
	flag.Parse()
	log.SetPrefix("pushnode: ")
	if (*urls == "") == (*embedded == "") {
		log.Fatal("give -nats or -embedded")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := natsbroker.Options{
		Replicas:  *replicas,
		History:   pushwire.History{Messages: *history, MaxAge: *maxAge},
		Heartbeat: *heartbeat,
		Timeout:   *timeout,
	}
	b, err := connect(ctx, *urls, *embedded, opts, *creds, *ca)
	if err != nil {
		log.Fatal(err)
	}
	srv := pushwire.NewServer(pushwire.Options{
		Broker:    b, // Shutdown closes it
		WebSocket: &conn.AcceptOptions{Options: conn.Options{PingInterval: *ping}},
	})

	var closing atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/push/", srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if closing.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	if *publish {
		mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) { publishHandler(srv, w, r) })
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// Long polls hold a request for 20 s and WebSocket connections last:
	// no read or write timeout past the headers.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		closing.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // every client reads 1001 and reconnects elsewhere
		hs.Shutdown(sctx)
	}()
	// The test harness (and scripts) read the address from this line.
	fmt.Printf("pushnode listening on %s\n", ln.Addr())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped // Serve returns as Shutdown begins
}

// connect returns the broker: on the NATS cluster at urls, or embedded.
func connect(ctx context.Context, urls, dir string, opts natsbroker.Options, creds, ca string) (*natsbroker.Broker, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if dir != "" {
		return natsbroker.Embedded(ctx, dir, opts)
	}
	var natsOpts []nats.Option
	if creds != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(creds))
	}
	if ca != "" {
		natsOpts = append(natsOpts, nats.RootCAs(ca))
	}
	natsOpts = append(natsOpts,
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Printf("NATS disconnected: %v", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Printf("NATS reconnected to %s", nc.ConnectedUrl()) }))
	return natsbroker.Connect(ctx, urls, opts, natsOpts...)
}

// publishHandler publishes the request's body on its topic.
func publishHandler(srv *pushwire.Server, w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	typ := pushwire.Binary
	if utf8.Valid(body) {
		typ = pushwire.Text
	}
	pos, err := srv.Publish(r.Context(), topic, typ, body)
	switch {
	case errors.Is(err, pushwire.ErrTopic):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Epoch  string `json:"epoch"`
		Offset uint64 `json:"offset"`
	}{pos.Epoch, pos.Offset})
}
