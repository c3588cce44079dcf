package conn_test

import (
	"net"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/rawpeer"
	"github.com/pushwire/pushwire/mask"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	b, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a = <-ch
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

type transport struct {
	name string
	pair func(testing.TB) (net.Conn, net.Conn)
}

var transports = []transport{
	{"pipe", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}},
	{"tcp", tcpPair},
}

// connPair returns a server and a client Conn connected to each other.
func connPair(t testing.TB, tr transport, sopts, copts *conn.Options) (srv, cli *conn.Conn) {
	a, b := tr.pair(t)
	return conn.New(a, conn.Server, nil, sopts), conn.New(b, conn.Client, nil, copts)
}

// serverWithRawClient returns a server Conn whose peer is a raw client.
func serverWithRawClient(t testing.TB, opts *conn.Options) (*conn.Conn, *rawpeer.Peer) {
	a, b := tcpPair(t)
	return conn.New(a, conn.Server, nil, opts), rawpeer.New(t, b, true)
}

// clientWithRawServer returns a client Conn whose peer is a raw server.
func clientWithRawServer(t testing.TB, opts *conn.Options) (*conn.Conn, *rawpeer.Peer) {
	a, b := tcpPair(t)
	return conn.New(b, conn.Client, nil, opts), rawpeer.New(t, a, false)
}

// encode returns the bytes of one frame; a masked frame uses a fixed key.
func encode(h frame.Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	if h.Masked {
		h.Key = [4]byte{0x37, 0xfa, 0x21, 0x3d}
	}
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		mask.XOR(b[start:], h.Key, 0)
	}
	return b
}
