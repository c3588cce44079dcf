package bench

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/pushwire/pushwire/conn"
)

// writeBound is how long each write of BenchmarkWriteBounded may take: far
// more than it does, so that the bound costs what setting it costs.
const writeBound = time.Second

// boundedWriters are the servers of BenchmarkWriteBounded: each makes, on
// the server's end of a connection whose client reads and discards, the
// write of one binary message bounded by writeBound the way its API offers.
// pushwire's row is a fresh context.WithTimeout per write (its own cost
// included: 4 allocations), pushwire-deadline's the SetWriteDeadline before
// each write that the goal compares it with.
var boundedWriters = []struct {
	name   string
	writer func(nc net.Conn) (func(p []byte) error, error)
}{
	{"pushwire", func(nc net.Conn) (func([]byte) error, error) {
		c := conn.New(nc, conn.Server, nil, nil)
		return func(p []byte) error {
			ctx, cancel := context.WithTimeout(context.Background(), writeBound)
			defer cancel()
			return c.WriteMessage(ctx, conn.Binary, p)
		}, nil
	}},
	{"pushwire-deadline", func(nc net.Conn) (func([]byte) error, error) {
		c := conn.New(nc, conn.Server, nil, nil)
		return func(p []byte) error {
			c.SetWriteDeadline(time.Now().Add(writeBound))
			return c.WriteMessage(context.Background(), conn.Binary, p)
		}, nil
	}},
	{"gorilla", func(nc net.Conn) (func([]byte) error, error) {
		r, w, _ := upgradeRequest(plain)
		w.nc = nc
		c, err := (&gorilla.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return nil, err
		}
		return func(p []byte) error {
			c.SetWriteDeadline(time.Now().Add(writeBound))
			return c.WriteMessage(gorilla.BinaryMessage, p)
		}, nil
	}},
	{"gobwas", func(nc net.Conn) (func([]byte) error, error) {
		// Its low-level API, as gobwasEcho uses it: header and payload
		// through a bufio.Writer, one system call.
		bw := bufio.NewWriterSize(nc, 4096)
		hbuf := make([]byte, ws.MaxHeaderSize)
		return func(p []byte) error {
			nc.SetWriteDeadline(time.Now().Add(writeBound))
			if err := ws.WriteHeaderBuffer(bw, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(len(p))}, hbuf); err != nil {
				return err
			}
			bw.Write(p)
			return bw.Flush()
		}, nil
	}},
	{"coder", func(nc net.Conn) (func([]byte) error, error) {
		r, w, _ := upgradeRequest(plain)
		w.nc = nc
		c, err := coder.Accept(w, r, nil)
		if err != nil {
			return nil, err
		}
		return func(p []byte) error {
			ctx, cancel := context.WithTimeout(context.Background(), writeBound)
			defer cancel()
			return c.Write(ctx, coder.MessageBinary, p)
		}, nil
	}},
	{"gws", func(nc net.Conn) (func([]byte) error, error) {
		r, _, _ := upgradeRequest(plain)
		c, err := gws.NewUpgrader(&gws.BuiltinEventHandler{}, nil).UpgradeFromConn(nc, bufio.NewReader(nc), r)
		if err != nil {
			return nil, err
		}
		return func(p []byte) error {
			c.SetWriteDeadline(time.Now().Add(writeBound))
			return c.WriteMessage(gws.OpcodeBinary, p)
		}, nil
	}},
}

// BenchmarkWriteBounded writes 1 KiB binary messages from a server over
// loopback TCP to a client that reads and discards them, each write bounded
// by a deadline (see boundedWriters).
func BenchmarkWriteBounded(b *testing.B) {
	p := payload(size1KiB.n)
	for _, l := range boundedWriters {
		b.Run(size1KiB.name+"/"+l.name, func(b *testing.B) {
			ln := listen(b)
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			go io.Copy(io.Discard, client)
			nc, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			write, err := l.writer(nc)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if err := write(p); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N)
		})
	}
}
