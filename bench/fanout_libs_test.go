package bench

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/olahol/melody"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
)

// fanoutLib is one library's fan-out server: the way its users publish one
// message to many connections.
type fanoutLib struct {
	name  string
	mode  compMode // the subscribers' offer; the server accepts it
	serve func(ln net.Listener, m compMode) *fanoutServer
}

var fanoutLibs = []fanoutLib{
	{"pushwire", plain, pushwireFanout},
	{"pushwire-deflate", noTakeover, pushwireFanout},
	{"gorilla", plain, gorillaFanout},
	{"gws", plain, gwsFanout},
	{"melody", plain, melodyFanout},
	{"coder", plain, coderFanout},
}

// fanoutServer is a running fan-out server: every WebSocket connection to
// url subscribes, and publish sends a message to every subscriber.
type fanoutServer struct {
	url         string
	subscribers func() int
	// publish sends p, which the caller does not touch again, as a binary
	// message to every subscriber.
	publish func(p []byte) error
	// stop waits for the server's connections to end (the subscribers
	// have gone) and stops it.
	stop func()
	// slowDisconnects, if set, counts the subscribers closed as slow.
	slowDisconnects func() uint64
}

// fanoutQueue is the messages each connection of the registries below
// holds before it is dropped as a slow consumer: melody's default.
// pushwire's queue holds 1,024; a burst is 100.
const fanoutQueue = 256

// fanoutWriteTimeout bounds each write of the registries, as pushwire's
// default WriteTimeout and melody's WriteWait do.
const fanoutWriteTimeout = 10 * time.Second

// --- pushwire: subscribed on the server's side, as bare WebSocket clients

const fanoutTopic = "fanout"

func pushwireFanout(ln net.Listener, m compMode) *fanoutServer {
	var n atomic.Int64
	srv := pushwire.NewServer(pushwire.Options{
		WebSocket: &conn.AcceptOptions{Compression: m.config()},
		OnOpen: func(s *pushwire.Session) {
			if s.Subscribe(fanoutTopic) == nil {
				n.Add(1)
			}
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/push/", srv)
	hs := serveHTTP(ln, mux.ServeHTTP)
	return &fanoutServer{
		url:         "ws://" + hs.addr + "/push/",
		subscribers: func() int { return int(n.Load()) },
		publish: func(p []byte) error {
			_, err := srv.Publish(context.Background(), fanoutTopic, pushwire.Binary, p)
			return err
		},
		stop: func() {
			srv.Shutdown(context.Background())
			hs.stop()
		},
		slowDisconnects: func() uint64 { return srv.Stats().SlowDisconnects },
	}
}

// --- gorilla: a registry of connections, each with a writer goroutine fed
// by a buffered channel; a message is prepared once for all of them.

type gorillaSub struct {
	c    *gorilla.Conn
	send chan *gorilla.PreparedMessage
}

func gorillaFanout(ln net.Listener, _ compMode) *fanoutServer {
	var mu sync.Mutex
	subs := map[*gorillaSub]struct{}{}
	up := gorilla.Upgrader{}
	hs := serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		s := &gorillaSub{c: c, send: make(chan *gorilla.PreparedMessage, fanoutQueue)}
		mu.Lock()
		subs[s] = struct{}{}
		mu.Unlock()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for pm := range s.send {
				c.SetWriteDeadline(time.Now().Add(fanoutWriteTimeout))
				if err := c.WritePreparedMessage(pm); err != nil {
					c.Close() // ends the reader below
					return
				}
			}
		}()
		for {
			if _, _, err := c.NextReader(); err != nil {
				break
			}
		}
		mu.Lock()
		delete(subs, s)
		mu.Unlock()
		close(s.send) // no publish sends to it any more
		<-wrote
	})
	return &fanoutServer{
		url: "ws://" + hs.addr + "/",
		subscribers: func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(subs)
		},
		publish: func(p []byte) error {
			pm, err := gorilla.NewPreparedMessage(gorilla.BinaryMessage, p)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for s := range subs {
				select {
				case s.send <- pm:
				default:
					s.c.Close() // a slow consumer
				}
			}
			return nil
		},
		stop: hs.stop,
	}
}

// --- gws: a registry of connections and its Broadcaster, which frames a
// message once and queues it on each connection's own write queue.

type gwsFanoutHandler struct {
	gws.BuiltinEventHandler
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
}

func (h *gwsFanoutHandler) OnOpen(c *gws.Conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *gwsFanoutHandler) OnClose(c *gws.Conn, _ error) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func gwsFanout(ln net.Listener, m compMode) *fanoutServer {
	h := &gwsFanoutHandler{conns: map[*gws.Conn]struct{}{}}
	up := gws.NewUpgrader(h, gwsOption(m))
	srv := serveRaw(ln, func(nc net.Conn) {
		br := bufio.NewReaderSize(nc, 4096)
		r, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			return
		}
		c, err := up.UpgradeFromConn(nc, br, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	return &fanoutServer{
		url: "ws://" + srv.addr + "/",
		subscribers: func() int {
			h.mu.Lock()
			defer h.mu.Unlock()
			return len(h.conns)
		},
		publish: func(p []byte) error {
			bc := gws.NewBroadcaster(gws.OpcodeBinary, p)
			defer bc.Close()
			h.mu.Lock()
			defer h.mu.Unlock()
			for c := range h.conns {
				bc.Broadcast(c)
			}
			return nil
		},
		stop: srv.stop,
	}
}

// --- melody (over gorilla): its Broadcast, which hands the message to
// every session's writer goroutine through its hub goroutine.

func melodyFanout(ln net.Listener, _ compMode) *fanoutServer {
	m := melody.New()
	var n atomic.Int64
	m.HandleConnect(func(*melody.Session) { n.Add(1) })
	m.HandleDisconnect(func(*melody.Session) { n.Add(-1) })
	hs := serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) { m.HandleRequest(w, r) })
	return &fanoutServer{
		url:         "ws://" + hs.addr + "/",
		subscribers: func() int { return int(n.Load()) },
		publish:     m.BroadcastBinary,
		stop: func() {
			hs.stop()
			m.Close()
		},
	}
}

// --- coder: a registry of connections, each written by its handler's
// goroutine from a buffered channel, as its chat example does.

func coderFanout(ln net.Listener, _ compMode) *fanoutServer {
	var mu sync.Mutex
	subs := map[chan []byte]*coder.Conn{}
	hs := serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(context.Background())
		send := make(chan []byte, fanoutQueue)
		mu.Lock()
		subs[send] = c
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(subs, send)
			mu.Unlock()
		}()
		for {
			select {
			case p := <-send:
				wctx, cancel := context.WithTimeout(ctx, fanoutWriteTimeout)
				err := c.Write(wctx, coder.MessageBinary, p)
				cancel()
				if err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
	return &fanoutServer{
		url: "ws://" + hs.addr + "/",
		subscribers: func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(subs)
		},
		publish: func(p []byte) error {
			mu.Lock()
			defer mu.Unlock()
			for send, c := range subs {
				select {
				case send <- p:
				default:
					c.CloseNow() // a slow consumer
				}
			}
			return nil
		},
		stop: hs.stop,
	}
}
