package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// size is a message size and its name in benchmark names.
type size struct {
	name string
	n    int
}

var (
	size16B   = size{"16B", 16}
	size128B  = size{"128B", 128}
	size1KiB  = size{"1KiB", 1 << 10}
	size32KiB = size{"32KiB", 32 << 10}
	size64KiB = size{"64KiB", 64 << 10}
	size1MiB  = size{"1MiB", 1 << 20}
)

// payload returns n deterministic bytes that are not all alike, so that no
// layer can shortcut them.
func payload(n int) []byte {
	p := make([]byte, n)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return p
}

// jsonText returns n bytes of deterministic JSON-like text: records whose
// keys repeat and whose values vary, as an API's messages do.
func jsonText(n int) []byte {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	var b bytes.Buffer
	b.WriteByte('[')
	x := uint32(7)
	for i := 0; b.Len() < n; i++ {
		x = x*1664525 + 1013904223
		fmt.Fprintf(&b, `{"id":%d,"user":"%s%d","tags":["%s","%s"],"score":%d.%02d,"active":%t},`,
			i, words[x%8], x%1000, words[(x>>8)%8], words[(x>>16)%8], x%100, (x>>4)%100, x&1 == 0)
	}
	return b.Bytes()[:n]
}

// mixedText returns n bytes of valid UTF-8 mixing ASCII with 2-, 3- and
// 4-byte characters.
func mixedText(n int) []byte {
	pieces := []string{"hello ", "é", "wörld ", "€", "中文", " ", "😀", "ascii text, "}
	var b []byte
	for i := 0; ; i++ {
		p := pieces[i%len(pieces)]
		if len(b)+len(p) > n {
			break
		}
		b = append(b, p...)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// clientKey is the masking key of the pre-encoded client frames.
var clientKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame encodes p as one masked client frame.
func clientFrame(op frame.Opcode, rsv byte, p []byte) []byte {
	h := frame.Header{Fin: true, Rsv: rsv, Op: op, Masked: true, Key: clientKey, Length: int64(len(p))}
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, p...)
	mask.XOR(b[start:], h.Key, 0)
	return b
}

// memConn is an in-memory net.Conn: it serves the same pre-encoded frame a
// set number of times as one stream, then io.EOF, and discards writes
// (keeping them only when keep is set, to check a reply once).
type memConn struct {
	in   []byte
	off  int
	left int
	keep bool
	out  []byte
}

func (c *memConn) serve(in []byte, times int) { c.in, c.off, c.left = in, 0, times }

func (c *memConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && c.left > 0 {
		k := copy(p[n:], c.in[c.off:])
		n += k
		c.off += k
		if c.off == len(c.in) {
			c.off = 0
			c.left--
		}
	}
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.keep {
		c.out = append(c.out, p...)
	}
	return len(p), nil
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// hijackWriter is the http.ResponseWriter of an upgrade over a memConn, for
// the libraries whose server API is net/http's.
type hijackWriter struct {
	nc net.Conn
	h  http.Header
}

func (w *hijackWriter) Header() http.Header         { return w.h }
func (w *hijackWriter) Write(p []byte) (int, error) { return w.nc.Write(p) }
func (w *hijackWriter) WriteHeader(int)             {}
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, bufio.NewReadWriter(bufio.NewReader(w.nc), bufio.NewWriter(w.nc)), nil
}

// compMode is the permessage-deflate setting of a benchmark.
type compMode int

const (
	plain compMode = iota
	takeover
	noTakeover
)

func (m compMode) String() string {
	return [...]string{"plain", "takeover", "notakeover"}[m]
}

// offer is the client's Sec-WebSocket-Extensions for m.
func (m compMode) offer() string {
	switch m {
	case takeover:
		return "permessage-deflate; client_max_window_bits"
	case noTakeover:
		return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	}
	return ""
}

// config is pushwire's compression policy for m: every message compressed,
// as the peers do above their thresholds.
func (m compMode) config() *deflate.Config {
	switch m {
	case takeover:
		return &deflate.Config{}
	case noTakeover:
		return &deflate.Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	}
	return nil
}

// upgradeRequest is a client's opening handshake request with mode m.
func upgradeRequest(m compMode) (*http.Request, *hijackWriter, *memConn) {
	r := httptest.NewRequest(http.MethodGet, "http://bench.local/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if o := m.offer(); o != "" {
		r.Header.Set("Sec-WebSocket-Extensions", o)
	}
	nc := &memConn{}
	return r, &hijackWriter{nc: nc, h: http.Header{}}, nc
}

// checkReply checks that out, what a server wrote, holds after any handshake
// response one unmasked message, in one frame or more, whose (inflated)
// payload is want.
func checkReply(out, want []byte, compressed bool) error {
	if bytes.HasPrefix(out, []byte("HTTP/")) {
		i := bytes.Index(out, []byte("\r\n\r\n"))
		if i < 0 {
			return errors.New("truncated handshake response")
		}
		out = out[i+4:]
	}
	var p []byte
	for first := true; ; first = false {
		h, n, err := frame.Parse(out)
		if err != nil {
			return fmt.Errorf("reply header: %v (%q)", err, out[:min(len(out), 32)])
		}
		if h.Masked || int64(len(out)-n) < h.Length {
			return fmt.Errorf("reply header %+v with %d bytes after it", h, len(out)-n)
		}
		if first && compressed && h.Rsv&frame.Rsv1 == 0 {
			return errors.New("reply not compressed")
		}
		p = append(p, out[n:n+int(h.Length)]...)
		out = out[n+int(h.Length):]
		if h.Fin {
			break
		}
	}
	if compressed {
		d := deflate.NewDecompressor(deflate.Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, false)
		var err error
		if p, err = d.Decompress(nil, p, 1<<30); err != nil {
			return fmt.Errorf("inflate reply: %v", err)
		}
	}
	if !bytes.Equal(p, want) {
		return fmt.Errorf("reply of %d bytes differs from the %d sent", len(p), len(want))
	}
	return nil
}

// readAll reads r to its end into buf[:0], growing it as needed.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
