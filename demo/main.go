// Command demo pushes server events to web pages: a clock tick every second
// and whatever any visitor types, to every page at once. Pages connect with
// the browser's WebSocket, or fall back to long polling when WebSocket does
// not get through (force it with ?transport=longpoll, or start the server
// with -no-websocket to refuse upgrades as a hostile proxy would).
//
//	go run ./demo -addr 127.0.0.1:8080
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/longpoll"
)

//go:embed index.html
var static embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	noWS := flag.Bool("no-websocket", false, "refuse WebSocket upgrades, as a proxy that strips them would")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	h := newHub(0)
	h.noWebSocket.Store(*noWS)
	go h.tick(ctx, time.Second)
	srv := &http.Server{Addr: *addr, Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		h.closeAll()
		srv.Shutdown(context.Background())
	}()
	log.Printf("demo: open http://%s/ in a browser (two tabs: type in one, see it in both)", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// event is what the page receives, as JSON.
type event struct {
	Kind string `json:"kind"` // "tick", "say", "join" or "leave"
	Time string `json:"time"`
	N    int    `json:"n,omitempty"`
	From int    `json:"from,omitempty"`
	Text string `json:"text,omitempty"`
}

// hub fans events out to every connected page. Each page has a bounded
// queue; a page that cannot keep up is disconnected rather than allowed to
// hold memory or slow the others.
type hub struct {
	mu          sync.Mutex
	next        int
	pages       map[int]*page
	lp          *longpoll.Handler
	noWebSocket atomic.Bool // refuse upgrades, as a proxy that strips them would
}

type page struct {
	c    conn.MessageConn
	out  chan []byte
	gone chan struct{}
}

// newHub returns a hub whose long polls are held up to hold (0: the default).
func newHub(hold time.Duration) *hub {
	h := &hub{pages: map[int]*page{}, lp: longpoll.NewHandler(&longpoll.Options{Hold: hold, MaxBody: 64 << 10})}
	go func() {
		for {
			s, err := h.lp.Accept(context.Background())
			if err != nil {
				return
			}
			go h.serve(s)
		}
	}()
	return h
}

func (h *hub) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.FileServerFS(static))
	mux.Handle("/lp/", h.lp)
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		if h.noWebSocket.Load() {
			http.Error(w, "no WebSocket here", http.StatusBadRequest)
			return
		}
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			Options:     conn.Options{ReadLimit: 4096, PingInterval: 30 * time.Second},
			Compression: &deflate.Config{},
		})
		if err != nil {
			log.Printf("demo: upgrade from %s: %v", r.RemoteAddr, err)
			return
		}
		h.serve(c)
	})
	return mux
}

// serve runs one page until it leaves.
func (h *hub) serve(c conn.MessageConn) {
	p := &page{c: c, out: make(chan []byte, 64), gone: make(chan struct{})}
	h.mu.Lock()
	h.next++
	id := h.next
	h.pages[id] = p
	h.mu.Unlock()
	h.broadcast(event{Kind: "join", From: id})

	go p.write()
	ctx := context.Background()
	var buf []byte
	for {
		_, msg, err := c.ReadMessage(ctx, buf)
		if err != nil {
			break
		}
		buf = msg
		h.broadcast(event{Kind: "say", From: id, Text: string(msg)})
	}
	h.mu.Lock()
	delete(h.pages, id)
	h.mu.Unlock()
	close(p.gone)
	c.Close(conn.CloseNormal, "")
	h.broadcast(event{Kind: "leave", From: id})
}

func (p *page) write() {
	ctx := context.Background()
	for {
		select {
		case msg := <-p.out:
			if err := p.c.WriteMessage(ctx, conn.Text, msg); err != nil {
				return
			}
		case <-p.gone:
			return
		}
	}
}

func (h *hub) broadcast(e event) {
	e.Time = time.Now().Format("15:04:05")
	msg, _ := json.Marshal(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pages {
		select {
		case p.out <- msg:
		default:
			go p.c.Close(conn.CloseTryAgainLater, "too slow")
		}
	}
}

func (h *hub) tick(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.C:
			h.broadcast(event{Kind: "tick", N: n})
		case <-ctx.Done():
			return
		}
	}
}

func (h *hub) closeAll() {
	h.lp.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pages {
		go p.c.Close(conn.CloseGoingAway, "server shutting down")
	}
}
