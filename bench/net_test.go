package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
)

func listen(b testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// reportRate reports messages per second, the figure users size servers by.
func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEcho is round trips over loopback TCP with one message in flight,
// each library being both server and (its own) client.
func BenchmarkEcho(b *testing.B) {
	for _, sz := range []size{size16B, size1KiB, size64KiB} {
		p := payload(sz.n)
		for _, l := range libs {
			b.Run(sz.name+"/"+l.name, func(b *testing.B) {
				srv := l.serve(listen(b), plain, nop)
				defer srv.stop()
				c, err := l.dial(srv.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.close()
				buf, err := c.roundTrip(p, nil)
				if err != nil || !bytes.Equal(buf, p) {
					b.Fatalf("echo came back altered (err %v)", err)
				}
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if buf, err = c.roundTrip(p, buf); err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b, b.N)
			})
		}
	}
}

const (
	pipelineConns    = 4
	pipelineInFlight = 64
)

// BenchmarkPipeline keeps 64 messages in flight on each of 4 connections
// to each library's server, from the same pushwire client: only the server
// differs.
func BenchmarkPipeline(b *testing.B) {
	for _, sz := range []size{size16B, size1KiB} {
		p := payload(sz.n)
		for _, l := range libs {
			b.Run(sz.name+"/"+l.name, func(b *testing.B) {
				srv := l.serve(listen(b), plain, nop)
				defer srv.stop()
				cs := make([]*conn.Conn, pipelineConns)
				for i := range cs {
					c, err := pushwireDialMode(srv.addr, plain)
					if err != nil {
						b.Fatal(err)
					}
					defer c.NetConn().Close()
					cs[i] = c
				}
				if reply, err := (pushwireClient{cs[0]}).roundTrip(p, nil); err != nil || !bytes.Equal(reply, p) {
					b.Fatalf("echo came back altered (err %v)", err)
				}
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				errs := make(chan error, pipelineConns)
				for i, c := range cs {
					n := b.N / pipelineConns
					if i < b.N%pipelineConns {
						n++
					}
					go func() { errs <- pipeline(c, p, n) }()
				}
				for range pipelineConns {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b, b.N)
			})
		}
	}
}

// pipeline sends n copies of p on c with at most pipelineInFlight
// unanswered, and reads the n replies. The client is a cheap load generator,
// so that the server's cost decides the rate: it writes pre-masked frames
// straight to the socket, as many in one write as it has credit for.
func pipeline(c *conn.Conn, p []byte, n int) error {
	ctx := context.Background()
	f := clientFrame(frame.OpBinary, 0, p)
	burst := bytes.Repeat(f, pipelineInFlight)
	credit := make(chan struct{}, pipelineInFlight)
	done := make(chan struct{})
	defer close(done)
	werr := make(chan error, 1)
	go func() {
		for sent := 0; sent < n; {
			select {
			case credit <- struct{}{}:
			case <-done:
				return
			}
			k := 1
		more:
			for sent+k < n {
				select {
				case credit <- struct{}{}:
					k++
				default:
					break more
				}
			}
			if _, err := c.NetConn().Write(burst[:k*len(f)]); err != nil {
				werr <- err
				return
			}
			sent += k
		}
		werr <- nil
	}()
	var buf []byte
	for i := range n {
		_, msg, err := c.ReadMessage(ctx, buf)
		if err != nil {
			return err
		}
		if len(msg) != len(p) {
			return fmt.Errorf("reply %d has %d bytes, want %d", i, len(msg), len(p))
		}
		buf = msg
		<-credit
	}
	return <-werr
}
