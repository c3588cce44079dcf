package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/gobwas/ws"

	"github.com/pushwire/pushwire/frame"
)

// FuzzHeaderGobwas reads b as a stream of frame headers (no payloads, so that
// the fuzzer reaches fragment order quickly) received by a server or a
// client, with or without permessage-deflate. Each header goes through
// frame.Parse and frame.Checker on our side and ws.ReadHeader and
// ws.CheckHeader on theirs; verdicts, decoded fields and bytes consumed must
// agree, except for the differences headerDifference and checkDifference name.
func FuzzHeaderGobwas(f *testing.F) {
	// binary
	f.Add(bool(false), bool(false), []byte("\x82\x04"))
	// close
	f.Add(bool(false), bool(false), []byte("\x88\x02"))
	// close masked
	f.Add(bool(true), bool(false), []byte("\x88\x827\xfa!="))
	// continuation sequence
	f.Add(bool(false), bool(false), []byte("\x01\x03\x00\x03\x80\x03"))
	// control fragmented
	f.Add(bool(false), bool(false), []byte("\t\x00"))
	// control too long
	f.Add(bool(false), bool(false), []byte("\x89~\x00~"))
	// expected continuation
	f.Add(bool(false), bool(false), []byte("\x01\x00\x81\x00"))
	// length 16bit 126
	f.Add(bool(false), bool(false), []byte("\x82~\x00~"))
	// length 16bit 65535
	f.Add(bool(false), bool(false), []byte("\x82~\xff\xff"))
	// length 16bit masked
	f.Add(bool(true), bool(false), []byte("\x82\xfe\x01\x00\x01\x02\x03\x04"))
	// length 64bit 65536
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"))
	// length 64bit masked
	f.Add(bool(true), bool(false), []byte("\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04"))
	// length 64bit max
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"))
	// length 64bit msb
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"))
	// length 7bit 125
	f.Add(bool(false), bool(false), []byte("\x82}"))
	// masked to client
	f.Add(bool(false), bool(false), []byte("\x81\x807\xfa!="))
	// non minimal 16bit
	f.Add(bool(false), bool(false), []byte("\x82~\x00}"))
	// non minimal 16bit zero
	f.Add(bool(false), bool(false), []byte("\x82~\x00\x00"))
	// non minimal 64bit
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"))
	// non minimal 64bit small
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05"))
	// non minimal ping
	f.Add(bool(true), bool(false), []byte("\x89\xfe\x00\x05\x01\x02\x03\x04"))
	// ping
	f.Add(bool(false), bool(false), []byte("\x89\x00"))
	// ping 125
	f.Add(bool(false), bool(false), []byte("\x89}"))
	// ping inside fragments
	f.Add(bool(true), bool(false), []byte("\x01\x80\x00\x00\x00\x00\x89\x80\x00\x00\x00\x00\x80\x80\x00\x00\x00\x00"))
	// ping masked
	f.Add(bool(true), bool(false), []byte("\x89\x807\xfa!="))
	// pong
	f.Add(bool(false), bool(false), []byte("\x8a\x05"))
	// reserved opcode 3
	f.Add(bool(false), bool(false), []byte("\x83\x00"))
	// reserved opcode 7
	f.Add(bool(false), bool(false), []byte("\x87\x00"))
	// reserved opcode b
	f.Add(bool(false), bool(false), []byte("\x8b\x00"))
	// reserved opcode f
	f.Add(bool(false), bool(false), []byte("\x8f\x00"))
	// rsv1 deflate
	f.Add(bool(false), bool(true), []byte("\xc1\x00"))
	// rsv1 deflate continuation
	f.Add(bool(false), bool(true), []byte("A\x00\xc0\x00"))
	// rsv1 deflate first fragment
	f.Add(bool(false), bool(true), []byte("A\x00\x80\x00"))
	// rsv1 deflate ping
	f.Add(bool(false), bool(true), []byte("\xc9\x00"))
	// rsv1 without extension
	f.Add(bool(false), bool(false), []byte("\xc1\x00"))
	// rsv2 deflate
	f.Add(bool(false), bool(true), []byte("\xa1\x00"))
	// rsv2 without extension
	f.Add(bool(false), bool(false), []byte("\xa1\x00"))
	// rsv3 without extension
	f.Add(bool(false), bool(false), []byte("\x91\x00"))
	// short 1 byte
	f.Add(bool(false), bool(false), []byte("\x81"))
	// short 16bit length
	f.Add(bool(false), bool(false), []byte("\x82~\x00"))
	// short 64bit length
	f.Add(bool(false), bool(false), []byte("\x82\x7f\x00\x00\x00\x00"))
	// short mask
	f.Add(bool(true), bool(false), []byte("\x81\x80\x01\x02"))
	// text
	f.Add(bool(false), bool(false), []byte("\x81\x05"))
	// text masked
	f.Add(bool(true), bool(false), []byte("\x81\x857\xfa!="))
	// unexpected continuation
	f.Add(bool(false), bool(false), []byte("\x80\x00"))
	// unmasked to server
	f.Add(bool(true), bool(false), []byte("\x81\x00"))
	f.Fuzz(func(t *testing.T, server, deflate bool, b []byte) {
		c := frame.Checker{Server: server}
		s := ws.StateClientSide
		if server {
			s = ws.StateServerSide
		}
		if deflate {
			c.Rsv = frame.Rsv1
			s = s.Set(ws.StateExtended)
		}
		var buf [frame.MaxHeaderSize]byte
		for len(b) > 0 {
			h, n, err := frame.Parse(b)
			r := bytes.NewReader(b)
			gh, gerr := ws.ReadHeader(r)
			if gerr == nil {
				gerr = ws.CheckHeader(gh, stateless(gh))
			}
			short := errors.Is(gerr, io.EOF) || errors.Is(gerr, io.ErrUnexpectedEOF)
			if (err == frame.ErrShort) != short {
				t.Fatalf("% x: ours %v, gobwas %v", b, err, gerr)
			}
			rh, rerr := frame.ReadHeader(bytes.NewReader(b), buf[:])
			if err == frame.ErrShort {
				if n <= len(b) || n > frame.MaxHeaderSize {
					t.Fatalf("% x: ErrShort asks for %d bytes", b, n)
				}
				if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
					t.Fatalf("% x: ReadHeader %v, want EOF", b, rerr)
				}
				return
			}
			if rerr != err || (rerr == nil && rh != h) {
				t.Fatalf("% x: ReadHeader %+v %v, Parse %+v %v", b, rh, rerr, h, err)
			}
			if used := len(b) - r.Len(); n != used {
				t.Fatalf("% x: ours took %d bytes, gobwas %d", b, n, used)
			}
			if err != nil {
				var fe *frame.Error
				if !errors.As(err, &fe) || fe.Code != frame.CloseProtocolError {
					t.Fatalf("% x: %v is not a protocol error", b, err)
				}
			}
			if err != nil && gerr == nil && headerDifference(b) != "" {
				return
			}
			if (err == nil) != (gerr == nil) {
				t.Fatalf("% x: ours %v, gobwas %v", b, err, gerr)
			}
			if err != nil {
				return
			}
			if h.Fin != gh.Fin || h.Rsv != gh.Rsv || byte(h.Op) != byte(gh.OpCode) ||
				h.Masked != gh.Masked || h.Key != gh.Mask || h.Length != gh.Length {
				t.Fatalf("% x: ours %+v, gobwas %+v", b, h, gh)
			}
			// Parse accepts only minimal encodings, so they round-trip.
			if enc := frame.AppendHeader(nil, h); !bytes.Equal(enc, b[:n]) {
				t.Fatalf("% x: re-encoded as % x", b[:n], enc)
			}

			err, gerr = c.Check(h), ws.CheckHeader(gh, s)
			if err != nil && gerr == nil && checkDifference(h, deflate) != "" {
				return
			}
			if (err == nil) != (gerr == nil) {
				t.Fatalf("% x (server %v, deflate %v): ours %v, gobwas %v", b, server, deflate, err, gerr)
			}
			if err != nil {
				return
			}
			// As wsutil.Reader does: control frames leave the state alone.
			if !gh.OpCode.IsControl() {
				if gh.Fin {
					s = s.Clear(ws.StateFragmented)
				} else {
					s = s.Set(ws.StateFragmented)
				}
			}
			if c.InMessage() != s.Fragmented() {
				t.Fatalf("% x: in message: ours %v, gobwas %v", b, c.InMessage(), s.Fragmented())
			}
			b = b[n:]
		}
	})
}

// stateless is the gobwas state under which CheckHeader applies only the
// rules frame.Parse applies: any reserved bits, no role, and a fragmentation
// state the opcode cannot break.
func stateless(h ws.Header) ws.State {
	s := ws.StateExtended
	if h.OpCode == ws.OpContinuation {
		s = s.Set(ws.StateFragmented)
	}
	return s
}

// headerDifference names the known reason why frame.Parse rejects the header
// at the start of b while gobwas accepts it, judged from the bytes alone, or
// returns "" if there is none.
func headerDifference(b []byte) string {
	switch b[1] & 0x7f {
	// RFC 6455 section 5.2: "in all cases, the minimal number of bytes MUST
	// be used to encode the length". gobwas decodes any encoding.
	case 126:
		if binary.BigEndian.Uint16(b[2:]) < 126 {
			return "non-minimal 16-bit length"
		}
	case 127:
		if binary.BigEndian.Uint64(b[2:]) <= math.MaxUint16 {
			return "non-minimal 64-bit length"
		}
	}
	return ""
}

// checkDifference names the known reason why frame.Checker rejects h while
// gobwas's CheckHeader accepts it, judged from the header alone, or returns
// "" if there is none.
func checkDifference(h frame.Header, deflate bool) string {
	switch {
	case !deflate || h.Rsv == 0:
	// RFC 6455 section 5.2: a reserved bit MUST be 0 unless a negotiated
	// extension defines it; permessage-deflate defines only RSV1 (RFC 7692
	// section 6). gobwas's StateExtended allows all three.
	case h.Rsv&^frame.Rsv1 != 0:
		return "reserved bit no extension defines"
	// RFC 7692 section 6: RSV1 MUST NOT be set on control frames and
	// non-first fragments, and the receiver MUST fail the connection.
	case h.Op == frame.OpContinuation || h.Op.IsControl():
		return "RSV1 on a control frame or continuation"
	}
	return ""
}
