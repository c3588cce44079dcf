package hostile

import (
	"encoding/binary"
	"io"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/leaktest"
)

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// frameRow is a hostile peer's frames and what our side must answer.
type frameRow struct {
	name string
	on   []kind // the kinds of end it applies to; nil: every kind
	opts conn.Options
	zip  bool // negotiate permessage-deflate
	send func(p *peer)
	// code is the close code our side sends and returns as a local
	// *CloseError; CloseAbnormal means it sends none and just hangs up.
	code frame.CloseCode
	rule error // the broken rule our error wraps, if it can be named
	// maxAlloc bounds what the process allocates from the first frame sent
	// to the end of the connection; 0: not measured.
	maxAlloc uint64
	// fast: our side fails the connection without waiting for more input.
	fast bool
}

func runFrameRows(t *testing.T, rows []frameRow) {
	for _, r := range rows {
		on := r.on
		if on == nil {
			on = every
		}
		for _, k := range on {
			t.Run(r.name+"/"+string(k), func(t *testing.T) {
				defer leaktest.Check(t)()
				rg := setup(t, k, r.opts, r.zip, echo)
				defer rg.stop()
				var s served
				start := time.Now()
				n := allocated(func() {
					r.send(rg.peer)
					if r.code != conn.CloseAbnormal {
						rg.ExpectClose(r.code)
					}
					rg.ExpectEOF()
					s = outcome(t, rg.result)
				})
				t.Logf("allocated %d bytes", n)
				if r.maxAlloc > 0 && n > r.maxAlloc {
					t.Errorf("allocated %d bytes, want at most %d", n, r.maxAlloc)
				}
				if d := time.Since(start); r.fast && d > 2*time.Second {
					t.Errorf("took %v to fail", d)
				}
				closeError(t, s.err, r.code, true, r.rule)
				if len(s.msgs) > 0 {
					t.Errorf("read messages %q", s.msgs)
				}
			})
		}
	}
}

func TestFrames(t *testing.T) {
	closeCode := func(code uint16) frameRow {
		return frameRow{
			name: "close code " + strconv.Itoa(int(code)),
			send: func(p *peer) { p.Send(true, frame.OpClose, closePayload(code, "")) },
			code: 1002, rule: frame.ErrCloseCode,
		}
	}
	rows := []frameRow{
		{
			name: "length 2^63-1",
			send: func(p *peer) { p.Write(p.Header(true, 0, frame.OpBinary, math.MaxInt64)) },
			code: 1009, rule: frame.ErrTooBig, maxAlloc: 64 << 10, fast: true,
		},
		{
			name: "length with the top bit set",
			send: func(p *peer) { p.Write(p.RawHeader(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1)) },
			code: 1002, rule: frame.ErrLengthOverflow, maxAlloc: 64 << 10, fast: true,
		},
		{
			name: "non-minimal 16-bit length",
			send: func(p *peer) { p.Write(append(p.RawHeader(0x82, 126, 0, 5), "hello"...)) },
			code: 1002, rule: frame.ErrNonMinimalLength,
		},
		{
			name: "non-minimal 64-bit length",
			send: func(p *peer) { p.Write(append(p.RawHeader(0x82, 127, 0, 0, 0, 0, 0, 0, 1, 0), make([]byte, 256)...)) },
			code: 1002, rule: frame.ErrNonMinimalLength,
		},
		{
			name: "rsv2 on a text frame",
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv2, frame.OpText, []byte("x"))) },
			code: 1002, rule: frame.ErrReservedBits,
		},
		{
			name: "rsv3 on a ping",
			send: func(p *peer) { p.Write(p.Frame(true, frame.Rsv3, frame.OpPing, nil)) },
			code: 1002, rule: frame.ErrReservedBits,
		},
		{
			name: "reserved data opcode 0x3",
			send: func(p *peer) { p.Send(true, 0x3, []byte("x")) },
			code: 1002, rule: frame.ErrReservedOpcode,
		},
		{
			name: "reserved control opcode 0xB",
			send: func(p *peer) { p.Send(true, 0xB, nil) },
			code: 1002, rule: frame.ErrReservedOpcode,
		},
		{
			name: "ping of 126 bytes",
			send: func(p *peer) { p.Send(true, frame.OpPing, make([]byte, 126)) },
			code: 1002, rule: frame.ErrControlTooLong,
		},
		{
			name: "close of 64 KiB",
			send: func(p *peer) { p.Send(true, frame.OpClose, make([]byte, 64<<10)) },
			code: 1002, rule: frame.ErrControlTooLong, fast: true,
		},
		{
			name: "fragmented ping",
			send: func(p *peer) { p.Send(false, frame.OpPing, []byte("a")) },
			code: 1002, rule: frame.ErrControlFragmented,
		},
		{
			name: "continuation without a start",
			send: func(p *peer) { p.Send(true, frame.OpContinuation, []byte("x")) },
			code: 1002, rule: frame.ErrUnexpectedContinuation,
		},
		{
			name: "text frame inside a fragmented message",
			send: func(p *peer) {
				p.Send(false, frame.OpBinary, []byte("a"))
				p.Send(true, frame.OpText, []byte("b"))
			},
			code: 1002, rule: frame.ErrExpectedContinuation,
		},
		{
			name: "unmasked client frame", on: servers,
			send: func(p *peer) {
				p.Client = false
				p.Send(true, frame.OpText, []byte("hi"))
				p.Client = true
			},
			code: 1002, rule: frame.ErrUnmasked,
		},
		{
			name: "masked server frame", on: []kind{viaDial},
			send: func(p *peer) {
				p.Client = true
				p.Send(true, frame.OpText, []byte("hi"))
				p.Client = false
			},
			code: 1002, rule: frame.ErrMasked,
		},
		{
			name: "close payload of 1 byte",
			send: func(p *peer) { p.Send(true, frame.OpClose, []byte{0x03}) },
			code: 1002, rule: frame.ErrCloseLength,
		},
		closeCode(0), closeCode(999), closeCode(1004), closeCode(1005),
		closeCode(1006), closeCode(1015), closeCode(5000),
		{
			name: "close reason not UTF-8",
			send: func(p *peer) { p.Send(true, frame.OpClose, closePayload(1000, "bye\xff")) },
			code: 1007, rule: frame.ErrCloseReason,
		},
		{
			// Nothing follows: our side must not wait for the message's end.
			name: "invalid UTF-8 in the third fragment",
			send: func(p *peer) {
				p.Send(false, frame.OpText, []byte("κόσ"))
				p.Send(false, frame.OpContinuation, []byte("με"))
				p.Send(false, frame.OpContinuation, []byte("ok\xf4\x90\x80\x80"))
			},
			code: 1007, rule: frame.ErrInvalidUTF8, fast: true,
		},
		{
			name: "invalid UTF-8 in a frame whose tail never comes",
			send: func(p *peer) {
				b := p.Frame(true, 0, frame.OpText, append([]byte("abc\xc0\xaf"), make([]byte, 4096)...))
				p.Write(b[:len(b)-4000])
			},
			code: 1007, rule: frame.ErrInvalidUTF8, fast: true,
		},
		{
			name: "message over the read limit",
			opts: conn.Options{ReadLimit: 1000},
			send: func(p *peer) { p.Write(p.Header(true, 0, frame.OpBinary, 1001)) },
			code: 1009, rule: frame.ErrTooBig, fast: true,
		},
		{
			name: "fragments over the read limit",
			opts: conn.Options{ReadLimit: 1000},
			send: func(p *peer) {
				p.Send(false, frame.OpBinary, make([]byte, 600))
				p.Write(p.Header(false, 0, frame.OpContinuation, 401))
			},
			code: 1009, rule: frame.ErrTooBig, fast: true,
		},
		{
			name: "truncated frame then EOF",
			send: func(p *peer) {
				p.Write(p.Header(true, 0, frame.OpBinary, 100)[:4])
				p.CloseWrite()
			},
			code: conn.CloseAbnormal, rule: io.ErrUnexpectedEOF,
		},
		{
			name: "truncated payload then EOF",
			send: func(p *peer) {
				b := p.Frame(true, 0, frame.OpBinary, make([]byte, 100))
				p.Write(b[:len(b)-10])
				p.CloseWrite()
			},
			code: conn.CloseAbnormal, rule: io.ErrUnexpectedEOF,
		},
		{
			name: "EOF between frames of a message",
			send: func(p *peer) {
				p.Send(false, frame.OpText, []byte("half"))
				p.CloseWrite()
			},
			code: conn.CloseAbnormal, rule: io.ErrUnexpectedEOF,
		},
	}
	runFrameRows(t, rows)
}
