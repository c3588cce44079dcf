package conn_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
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

// rawPeer speaks frames by hand, to send what a Conn never would.
type rawPeer struct {
	t      testing.TB
	nc     net.Conn
	masked bool // a client peer masks its frames
}

// serverWithRawClient returns a server Conn whose peer is a raw client.
func serverWithRawClient(t testing.TB, opts *conn.Options) (*conn.Conn, *rawPeer) {
	a, b := tcpPair(t)
	return conn.New(a, conn.Server, nil, opts), &rawPeer{t: t, nc: b, masked: true}
}

// clientWithRawServer returns a client Conn whose peer is a raw server.
func clientWithRawServer(t testing.TB, opts *conn.Options) (*conn.Conn, *rawPeer) {
	a, b := tcpPair(t)
	return conn.New(b, conn.Client, nil, opts), &rawPeer{t: t, nc: a}
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

func (p *rawPeer) frameBytes(fin bool, op frame.Opcode, payload []byte) []byte {
	return encode(frame.Header{Fin: fin, Op: op, Masked: p.masked}, payload)
}

func (p *rawPeer) send(fin bool, op frame.Opcode, payload []byte) {
	p.write(p.frameBytes(fin, op, payload))
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

// read reads one frame, unmasking it, within a few seconds.
func (p *rawPeer) read() (frame.Header, []byte, error) {
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hb [frame.MaxHeaderSize]byte
	h, err := frame.ReadHeader(p.nc, hb[:])
	if err != nil {
		return h, nil, err
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(p.nc, payload); err != nil {
		return h, nil, err
	}
	if h.Masked {
		mask.XOR(payload, h.Key, 0)
	}
	return h, payload, nil
}

// expectClose reads frames up to a close frame and checks its code, then
// that the connection ends.
func (p *rawPeer) expectClose(want frame.CloseCode) {
	p.t.Helper()
	for {
		h, payload, err := p.read()
		if err != nil {
			p.t.Fatalf("waiting for close %d: %v", want, err)
		}
		if h.Op != frame.OpClose {
			continue
		}
		if len(payload) < 2 {
			p.t.Fatalf("close frame without code, want %d", want)
		}
		if got := frame.CloseCode(binary.BigEndian.Uint16(payload)); got != want {
			p.t.Fatalf("close code %d, want %d", got, want)
		}
		return
	}
}

// expectEOF checks that the peer closes the TCP connection.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(p.nc)
	if err != nil && !isReset(err) {
		p.t.Fatalf("waiting for EOF: %v (after %d bytes)", err, len(b))
	}
}

// hangUp is a peer's end of a connection failed by the Conn: after the
// close frame comes EOF, and the peer closes too.
func (p *rawPeer) hangUp() {
	p.t.Helper()
	p.expectEOF()
	p.nc.Close()
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
