package handshake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/pushwire/pushwire/handshake"
)

// Upgrade answers the handshake inside a net/http handler and hands over the
// connection.
func ExampleUpgrade() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			return // Upgrade has answered the request with the status of err
		}
		defer nc.Close()
		// res.Buffered holds the client's first frames, if it sent them
		// with the request; read them before nc.
		io.Copy(nc, io.MultiReader(bytes.NewReader(res.Buffered), nc))
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()

	nc, res, err := handshake.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &handshake.DialOptions{
		Subprotocols: []string{"chat"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	fmt.Println(res.Subprotocol)
	// Output: chat
}

// UpgradeConn reads the request itself from a raw connection: no net/http
// server, fewer allocations.
func ExampleUpgradeConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		res, err := handshake.UpgradeConn(nc, nil)
		if err != nil {
			return // answered already, when there was a request to answer
		}
		fmt.Println("server:", res.Request.URL.Path)
	}()

	nc, _, err := handshake.Dial(context.Background(), "ws://"+ln.Addr().String()+"/feed", nil)
	if err != nil {
		log.Fatal(err)
	}
	nc.Close()
	<-done
	// Output: server: /feed
}

// Dial reports a refused handshake as an *Error; its Status is the server's.
func ExampleDial() {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()

	_, _, err := handshake.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/missing", nil)
	var herr *handshake.Error
	if errors.As(err, &herr) && errors.Is(err, handshake.ErrStatus) {
		fmt.Println(herr.Status)
	}
	// Output: 404
}

// Behind a reverse proxy that rewrites Host, the origin policy compares
// the page's origin with the host the proxy forwarded, believed only from
// the proxy's address.
func ExampleOriginPolicy() {
	p := handshake.OriginPolicy{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	r := httptest.NewRequest("GET", "http://10.0.0.7:8080/ws", nil)
	r.Header.Set("Origin", "https://push.example.com")
	r.Header.Set("X-Forwarded-Host", "push.example.com")

	r.RemoteAddr = "10.0.0.2:51000" // the proxy
	fmt.Println(p.Check(r))
	r.RemoteAddr = "192.0.2.1:51000" // anyone else
	fmt.Println(p.Check(r))
	// Output:
	// <nil>
	// origin not allowed: origin host "push.example.com" is neither the Host "10.0.0.7:8080" nor allowed by the origin patterns; the request carries X-Forwarded-Host "push.example.com" from 192.0.2.1:51000, not a trusted proxy
}
