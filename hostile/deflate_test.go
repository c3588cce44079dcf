package hostile

import (
	"bytes"
	"compress/flate"
	"sync"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// bomb is a permessage-deflate payload of 256 KiB that inflates to 256 MiB
// of zeros: one flushed MiB, repeated (zeros refer back only to zeros, so
// the copies chain into one valid stream), made once because compressing
// under -race is slow.
var bomb = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(make([]byte, 1<<20))
	w.Flush()
	return bytes.TrimSuffix(bytes.Repeat(b.Bytes(), 256), []byte{0, 0, 0xff, 0xff})
})

func TestCompression(t *testing.T) {
	const limit = 1 << 20
	bomb() // made outside the measurements
	rows := []frameRow{
		{
			// What is buffered and inflated stays near the limit, not 256 MiB.
			name: "decompression bomb", zip: true, opts: conn.Options{ReadLimit: limit},
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv1, frame.OpBinary, bomb())) },
			code: 1009, maxAlloc: 8 * limit,
		},
		{
			name: "decompression bomb in 256 fragments", zip: true, opts: conn.Options{ReadLimit: limit},
			send: func(p *peer) {
				z := bomb()
				n := len(z) / 256
				p.Write(p.Frame(false, frame.Rsv1, frame.OpText, z[:n]))
				for z = z[n:]; len(z) > n; z = z[n:] {
					p.Write(p.Frame(false, 0, frame.OpContinuation, z[:n]))
				}
				p.Write(p.Frame(true, 0, frame.OpContinuation, z))
			},
			code: 1009, maxAlloc: 8 * limit,
		},
		{
			name: "RSV1 on a ping", zip: true,
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv1, frame.OpPing, nil)) },
			code: 1002, rule: frame.ErrReservedBits,
		},
		{
			name: "RSV1 on a continuation", zip: true,
			send: func(p *peer) {
				p.Write(p.Frame(false, frame.Rsv1, frame.OpText, deflated(t, []byte("hello "), 1)))
				p.Write(p.Frame(true, frame.Rsv1, frame.OpContinuation, nil))
			},
			code: 1002, rule: frame.ErrReservedBits,
		},
		{
			name: "compressed data without negotiation",
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv1, frame.OpText, deflated(t, []byte("hello"), 1))) },
			code: 1002, rule: frame.ErrReservedBits,
		},
		{
			// BTYPE 11 is reserved.
			name: "corrupt deflate stream", zip: true,
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv1, frame.OpBinary, []byte{0xff, 0xff, 0xff, 0xff})) },
			code: 1007,
		},
		{
			name: "deflate stream cut short", zip: true,
			send: func(p *peer) {
				z := deflated(t, bytes.Repeat([]byte("pushwire "), 100), 9)
				p.Write(p.Frame(true, frame.Rsv1, frame.OpBinary, z[:len(z)/2]))
			},
			code: 1007,
		},
		{
			name: "text inflating to invalid UTF-8", zip: true,
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv1, frame.OpText, deflated(t, []byte("ok\xff"), 1))) },
			code: 1007, rule: frame.ErrInvalidUTF8,
		},
	}
	runFrameRows(t, rows)
}

// Our own client compressing an honest 64 MiB message of zeros for a server
// that reads at most 1 MiB: the server fails it with 1009, and the client
// reads that close.
func TestCompressedOverLimit(t *testing.T) {
	defer leaktest.Check(t)()
	s := startServer(t, viaAccept, &conn.AcceptOptions{Options: conn.Options{ReadLimit: 1 << 20}, Compression: &deflate.Config{}}, echo)
	defer s.stop()
	c, err := conn.Dial(bg, "ws://"+s.addr+"/", &conn.DialOptions{Compression: &deflate.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Compressed() {
		t.Fatal("permessage-deflate not negotiated")
	}
	if err := c.WriteMessage(bg, conn.Binary, make([]byte, 64<<20)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage(bg, nil)
	closeError(t, err, 1009, false, nil)
	closeError(t, outcome(t, s.results).err, 1009, true, nil)
}
