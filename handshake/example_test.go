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
