package conn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
)

// servedPair returns a server Conn over a counting socket and a client
// Conn dialled to it, both with compression if cfg is not nil.
func servedPair(t *testing.T, cfg *deflate.Config) (*conn.Conn, *countingConn, *conn.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   *conn.Conn
		cc  *countingConn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		cc := &countingConn{TCPConn: nc.(*net.TCPConn)}
		c, err := conn.AcceptConn(cc, &conn.AcceptOptions{Compression: cfg})
		ch <- accepted{c, cc, err}
	}()
	cli, err := conn.Dial(context.Background(), "ws://"+ln.Addr().String(), &conn.DialOptions{Compression: cfg})
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { a.cc.Close(); cli.Close(conn.CloseNormal, "") })
	if (cfg != nil) != a.c.Compressed() {
		t.Fatalf("compression negotiated: %v", a.c.Compressed())
	}
	a.cc.writes.Store(0) // the handshake's
	return a.c, a.cc, cli
}

// A batch of prepared messages reaches the peer whole and in order, in one
// write where it fits the write buffer, plain or compressed with or
// without context takeover.
func TestWritePreparedBatch(t *testing.T) {
	text := func(n int) []byte { return []byte(strings.Repeat("pushwire ", n/9+1)[:n]) }
	many := func(count, size int) [][]byte {
		var out [][]byte
		for i := range count {
			out = append(out, append([]byte(fmt.Sprintf("%04d ", i)), text(size)...))
		}
		return out
	}
	compression := []struct {
		name string
		cfg  *deflate.Config
	}{
		{"plain", nil},
		{"takeover", &deflate.Config{}},
		{"no-takeover", &deflate.Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
	}
	rows := []struct {
		name      string
		payloads  [][]byte
		maxWrites int32 // 0: not checked
	}{
		{"empty batch", nil, 0},
		{"one", many(1, 100), 1},
		{"64 of 100 B", many(64, 100), 1},
		{"200 of 1 KiB, past the buffer", many(200, 1024), 0},
		{"mixed, one larger than the buffer", [][]byte{text(10), text(70_000), {}, text(5000), text(3)}, 0},
	}
	for _, comp := range compression {
		for _, r := range rows {
			t.Run(comp.name+"/"+r.name, func(t *testing.T) {
				srv, cc, cli := servedPair(t, comp.cfg)
				var pms []*conn.PreparedMessage
				for i, p := range r.payloads {
					typ := conn.Text
					if i%2 == 1 {
						typ = conn.Binary
					}
					pm, err := conn.NewPreparedMessage(typ, p)
					if err != nil {
						t.Fatal(err)
					}
					pms = append(pms, pm)
				}
				if err := srv.WritePrepared(context.Background(), pms...); err != nil {
					t.Fatal(err)
				}
				writes := cc.writes.Load()
				if len(pms) == 0 && writes != 0 {
					t.Fatalf("an empty batch made %d writes", writes)
				}
				if r.maxWrites > 0 && writes > r.maxWrites {
					t.Fatalf("%d messages took %d writes, want at most %d", len(pms), writes, r.maxWrites)
				}
				for i, want := range r.payloads {
					typ, got, err := cli.ReadMessage(context.Background(), nil)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if typ != pms[i].Type() || !bytes.Equal(got, want) {
						t.Fatalf("message %d: type %v, %d bytes; want type %v, %d bytes", i, typ, len(got), pms[i].Type(), len(want))
					}
				}
			})
		}
	}
}

// A batch written to a closed connection fails with ErrClosed.
func TestWritePreparedClosed(t *testing.T) {
	srv, _, cli := servedPair(t, nil)
	go cli.ReadMessage(context.Background(), nil) // answers the close
	srv.Close(conn.CloseNormal, "")
	pm, _ := conn.NewPreparedMessage(conn.Text, []byte("late"))
	if err := srv.WritePrepared(context.Background(), pm, pm); !errors.Is(err, conn.ErrClosed) {
		t.Fatalf("WritePrepared after Close: %v, want ErrClosed", err)
	}
}
