// Package rawpeer is the raw far end of a WebSocket connection under test:
// it sends frames a conn.Conn never would, and reads what the connection
// answers byte for byte. conn's tests and hostile/ share it.
package rawpeer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// Key is the masking key of every frame a client Peer sends.
var Key = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// Peer speaks frames by hand on NC, reading through BR (which may hold
// what an HTTP handshake read past its head).
type Peer struct {
	T      testing.TB
	NC     net.Conn
	BR     *bufio.Reader
	Client bool // a client masks its frames
}

// New returns the peer of role client on nc.
func New(t testing.TB, nc net.Conn, client bool) *Peer {
	return &Peer{T: t, NC: nc, BR: bufio.NewReader(nc), Client: client}
}

// Dial connects a client peer to addr.
func Dial(t testing.TB, addr string) *Peer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return New(t, nc, true)
}

// Write sends b. Errors are left to the reads that follow: the end under
// test may rightly hang up while the peer writes.
func (p *Peer) Write(b []byte) {
	p.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
	p.NC.Write(b)
}

// Flood writes next() in the background until a write fails (the end under
// test hung up) or next returns nil.
func (p *Peer) Flood(next func() []byte) {
	go func() {
		p.NC.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for {
			b := next()
			if b == nil {
				return
			}
			if _, err := p.NC.Write(b); err != nil {
				return
			}
		}
	}()
}

// Frame encodes one frame as p's role sends it.
func (p *Peer) Frame(fin bool, rsv byte, op frame.Opcode, payload []byte) []byte {
	b := p.Header(fin, rsv, op, int64(len(payload)))
	n := len(b)
	b = append(b, payload...)
	if p.Client {
		mask.XOR(b[n:], Key, 0)
	}
	return b
}

// Header encodes a frame header claiming length payload bytes.
func (p *Peer) Header(fin bool, rsv byte, op frame.Opcode, length int64) []byte {
	return frame.AppendHeader(nil, frame.Header{Fin: fin, Rsv: rsv, Op: op, Masked: p.Client, Key: Key, Length: length})
}

// RawHeader completes the first two bytes of a header, written by hand to
// break the length encoding, with p's mask bit and key.
func (p *Peer) RawHeader(b0, b1 byte, ext ...byte) []byte {
	b := append([]byte{b0, b1}, ext...)
	if p.Client {
		b[1] |= 0x80
		b = append(b, Key[:]...)
	}
	return b
}

// Send sends one frame without RSV bits.
func (p *Peer) Send(fin bool, op frame.Opcode, payload []byte) {
	p.Write(p.Frame(fin, 0, op, payload))
}

// ReadFrame reads one frame, unmasked, within a few seconds.
func (p *Peer) ReadFrame() (frame.Header, []byte, error) {
	p.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hb [frame.MaxHeaderSize]byte
	h, err := frame.ReadHeader(p.BR, hb[:])
	if err != nil {
		return h, nil, err
	}
	if h.Length > 1<<20 {
		return h, nil, errors.New("frame too long for a test")
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(p.BR, payload); err != nil {
		return h, nil, err
	}
	if h.Masked {
		mask.XOR(payload, h.Key, 0)
	}
	return h, payload, nil
}

// ExpectClose skips data and pongs up to a close frame, which must carry
// want and come masked exactly when the end under test is the client.
func (p *Peer) ExpectClose(want frame.CloseCode) {
	p.T.Helper()
	for {
		h, payload, err := p.ReadFrame()
		if err != nil {
			p.T.Fatalf("waiting for close %d: %v", want, err)
		}
		if h.Op != frame.OpClose {
			continue
		}
		if h.Masked == p.Client {
			p.T.Fatalf("close frame masked=%v from the %s side", h.Masked, map[bool]string{true: "server", false: "client"}[p.Client])
		}
		if len(payload) < 2 {
			p.T.Fatalf("close frame without a code, want %d", want)
		}
		if got := frame.CloseCode(binary.BigEndian.Uint16(payload)); got != want {
			p.T.Fatalf("close code %d %q, want %d", got, payload[2:], want)
		}
		return
	}
}

// ExpectEOF checks that the end under test hangs up, sending no more
// frames.
func (p *Peer) ExpectEOF() {
	p.T.Helper()
	p.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(p.BR)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		p.T.Fatalf("waiting for EOF: %v", err)
	}
	if len(b) > 0 {
		p.T.Fatalf("%d bytes before EOF: %q", len(b), b[:min(len(b), 40)])
	}
}

// HangUp is the peer's end of a connection the end under test failed:
// after its close frame comes EOF, and the peer closes too.
func (p *Peer) HangUp() {
	p.T.Helper()
	p.ExpectEOF()
	p.NC.Close()
}

// CloseWrite sends FIN and keeps the reading half open.
func (p *Peer) CloseWrite() { p.NC.(*net.TCPConn).CloseWrite() }
