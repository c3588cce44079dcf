package conn_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// In-package benchmarks, so that a change to conn can be compared before
// and after without the peers (bench/ has those).

// replayConn is an in-memory net.Conn: reads replay the same bytes forever
// and writes vanish, so that only the Conn's own CPU counts.
type replayConn struct {
	net.Conn
	in  []byte
	pos int
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.pos == len(c.in) {
		c.pos = 0
	}
	n := copy(p, c.in[c.pos:])
	c.pos += n
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkReadWrite reads a message and writes it back, in memory: the
// frames a client sends replayed to a server Conn.
func BenchmarkReadWrite(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			// One masked frame, as a client sends it, replayed forever.
			var rec recorder
			cli := conn.New(&rec, conn.Client, nil, nil)
			if err := cli.WriteMessage(bg, conn.Binary, make([]byte, size)); err != nil {
				b.Fatal(err)
			}
			srv := conn.New(&replayConn{in: rec.b}, conn.Server, nil, nil)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				typ, msg, err := srv.ReadMessage(bg, buf)
				if err != nil {
					b.Fatal(err)
				}
				if err := srv.WriteMessage(bg, typ, msg); err != nil {
					b.Fatal(err)
				}
				buf = msg
			}
		})
	}
}

// BenchmarkWriteBounded bounds each 1 KiB write over loopback TCP the ways
// a user can: not at all, SetWriteDeadline, a fresh context.WithTimeout
// per call, and Options.WriteTimeout.
func BenchmarkWriteBounded(b *testing.B) {
	msg := make([]byte, 1<<10)
	rows := []struct {
		name  string
		opts  conn.Options
		write func(c *conn.Conn) error
	}{
		{"none", conn.Options{}, func(c *conn.Conn) error { return c.WriteMessage(bg, conn.Binary, msg) }},
		{"SetWriteDeadline", conn.Options{}, func(c *conn.Conn) error {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			return c.WriteMessage(bg, conn.Binary, msg)
		}},
		{"WithTimeout", conn.Options{}, func(c *conn.Conn) error {
			ctx, cancel := context.WithTimeout(bg, time.Second)
			err := c.WriteMessage(ctx, conn.Binary, msg)
			cancel()
			return err
		}},
		{"WriteTimeout", conn.Options{WriteTimeout: time.Second}, func(c *conn.Conn) error {
			return c.WriteMessage(bg, conn.Binary, msg)
		}},
	}
	// The context package's own cost, for the WithTimeout row.
	b.Run("WithTimeout-alone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithTimeout(bg, time.Second)
			cancel()
		}
	})
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			a, p := tcpPair(b)
			go io.Copy(io.Discard, p)
			c := conn.New(a, conn.Server, nil, &r.opts)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.write(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// recorder is a net.Conn that keeps what is written to it.
type recorder struct {
	net.Conn
	b []byte
}

func (r *recorder) Write(p []byte) (int, error) { r.b = append(r.b, p...); return len(p), nil }

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
