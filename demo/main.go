// Command demo pushes server events to web pages through the push layer: a
// clock tick every second on the topic "clock", and whatever any visitor
// types on "chat", to every page at once. Pages connect with pushwire.js:
// WebSocket, or long polling when WebSocket does not get through (force it
// with ?transport=longpoll, plain polling with ?transport=polling, long
// polling that moves to a WebSocket with ?transport=upgrade, or start the
// server with -no-websocket to refuse upgrades as a hostile proxy would). Behind a reverse proxy that rewrites Host, name the proxy with
// -trusted-proxies so that its forwarding headers count for the origin
// check. With -tls it serves HTTPS with a certificate made at start, and
// HTTP/2: a browser then opens its WebSocket as a stream of the page's
// connection (RFC 8441; `make demo` sets GODEBUG=http2xconnect=1, which
// net/http needs for it). The page's "reconnect" button drops
// its connection while ticks keep coming: it resumes where it stopped and
// shows that no tick was missed.
//
//	go run ./demo -addr 127.0.0.1:8080
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/longpoll"
)

//go:embed index.html
var static embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	noWS := flag.Bool("no-websocket", false, "refuse WebSocket upgrades, as a proxy that strips them would")
	useTLS := flag.Bool("tls", false, "serve HTTPS (HTTP/2 included) with a self-signed certificate made at start")
	proxies := flag.String("trusted-proxies", "", "comma-separated addresses or prefixes of reverse proxies whose X-Forwarded-Host/Proto and Forwarded headers are believed")
	flag.Parse()
	trusted, err := parsePrefixes(*proxies)
	if err != nil {
		log.Fatalf("-trusted-proxies: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	d := newDemo(trusted)
	d.noWebSocket.Store(*noWS)
	go d.tick(ctx, time.Second)
	hs := &http.Server{Addr: *addr, Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.srv.Shutdown(sctx) // every page reads 1001 and reconnects
		hs.Shutdown(sctx)
	}()
	scheme := "http"
	if *useTLS {
		cert, err := selfSigned()
		if err != nil {
			log.Fatal(err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	log.Printf("demo: open %s://%s/ in a browser (two tabs: type in one, see it in both)", scheme, *addr)
	if *useTLS {
		err = hs.ListenAndServeTLS("", "")
	} else {
		err = hs.ListenAndServe()
	}
	if err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// selfSigned makes a certificate for localhost and 127.0.0.1, valid for a
// day: the browser asks once to accept it.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pushwire demo"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// event is what the pages receive, as JSON.
type event struct {
	Kind string `json:"kind"` // "tick" or "say"
	Time string `json:"time"`
	N    int    `json:"n,omitempty"`
	From string `json:"from,omitempty"`
	Text string `json:"text,omitempty"`
}

// demo is the push server and what the demo adds to it.
type demo struct {
	srv         *pushwire.Server
	noWebSocket atomic.Bool // refuse upgrades, as a proxy that strips them would
}

// newDemo makes the push server; trusted are the reverse proxies in front
// of it, if any.
func newDemo(trusted []netip.Prefix) *demo {
	d := &demo{}
	d.srv = pushwire.NewServer(pushwire.Options{
		// Compression without context takeover: a publication is
		// compressed once for every page.
		WebSocket: &conn.AcceptOptions{
			Options:        conn.Options{ReadLimit: 4096, PingInterval: 30 * time.Second},
			Compression:    &deflate.Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			TrustedProxies: trusted,
		},
		LongPoll: &longpoll.Options{TrustedProxies: trusted},
		OnRefuse: func(r *http.Request, err error) {
			log.Printf("refused %s from %s: %v", r.URL.Path, r.RemoteAddr, err)
		},
		CanSubscribe: func(_ *pushwire.Session, topic string) error {
			if topic != "clock" && topic != "chat" {
				return pushwire.ErrTopic
			}
			return nil
		},
		OnMessage: func(s *pushwire.Session, _ pushwire.MessageType, text []byte) {
			d.srv.PublishJSON(context.Background(), "chat", event{Kind: "say", Time: now(), From: s.RemoteAddr().String(), Text: string(text)})
		},
	})
	return d
}

// parsePrefixes reads a comma-separated list of addresses (one host each)
// and prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func now() string { return time.Now().Format("15:04:05") }

func (d *demo) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.FileServerFS(static))
	mux.Handle("/push/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.noWebSocket.Load() && (strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || handshake.IsHTTP2(r)) {
			http.Error(w, "no WebSocket here", http.StatusBadRequest)
			return
		}
		d.srv.ServeHTTP(w, r)
	}))
	return mux
}

// tick publishes the clock until ctx ends.
func (d *demo) tick(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.C:
			d.srv.PublishJSON(ctx, "clock", event{Kind: "tick", Time: now(), N: n})
		case <-ctx.Done():
			return
		}
	}
}
