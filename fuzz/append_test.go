package fuzz

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/gobwas/ws"

	"github.com/pushwire/pushwire/frame"
)

// FuzzAppendGobwas encodes one header with frame.AppendHeader and with
// ws.WriteHeader: the bytes and sizes must be equal, and frame.Parse must
// give back the header or the rule it breaks.
func FuzzAppendGobwas(f *testing.F) {
	// binary
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(false), uint32(0), int64(5))
	// close
	f.Add(bool(true), byte('\x00'), byte('\b'), bool(false), uint32(0), int64(5))
	// continuation
	f.Add(bool(true), byte('\x00'), byte('\x00'), bool(false), uint32(0), int64(5))
	// control fragmented
	f.Add(bool(false), byte('\x00'), byte('\t'), bool(false), uint32(0), int64(0))
	// control too long
	f.Add(bool(true), byte('\x00'), byte('\b'), bool(false), uint32(0), int64(126))
	// length 125
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(false), uint32(0), int64(125))
	// length 126
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(false), uint32(0), int64(126))
	// length 65535
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(true), uint32(16909060), int64(65535))
	// length 65536
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(false), uint32(0), int64(65536))
	// length max
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(true), uint32(16909060), int64(9223372036854775807))
	// length negative
	f.Add(bool(true), byte('\x00'), byte('\x02'), bool(false), uint32(0), int64(-1))
	// out of range fields
	f.Add(bool(true), byte('ÿ'), byte('ÿ'), bool(true), uint32(4294967295), int64(300))
	// ping
	f.Add(bool(true), byte('\x00'), byte('\t'), bool(false), uint32(0), int64(5))
	// pong
	f.Add(bool(true), byte('\x00'), byte('\n'), bool(false), uint32(0), int64(5))
	// reserved control opcode
	f.Add(bool(true), byte('\x00'), byte('\v'), bool(false), uint32(0), int64(0))
	// reserved opcode
	f.Add(bool(true), byte('\x00'), byte('\x03'), bool(false), uint32(0), int64(0))
	// rsv all
	f.Add(bool(false), byte('\a'), byte('\x01'), bool(false), uint32(0), int64(0))
	// text
	f.Add(bool(true), byte('\x00'), byte('\x01'), bool(false), uint32(0), int64(5))
	// text masked
	f.Add(bool(true), byte('\x00'), byte('\x01'), bool(true), uint32(939139389), int64(5))
	f.Fuzz(func(t *testing.T, fin bool, rsv, op byte, masked bool, key uint32, length int64) {
		h := frame.Header{
			Fin:    fin,
			Rsv:    rsv & 0x7,
			Op:     frame.Opcode(op & 0xf),
			Masked: masked,
			Length: length & math.MaxInt64, // negative lengths are the caller's bug
		}
		if masked {
			binary.BigEndian.PutUint32(h.Key[:], key)
		}
		gh := ws.Header{Fin: h.Fin, Rsv: h.Rsv, OpCode: ws.OpCode(h.Op), Masked: h.Masked, Mask: h.Key, Length: h.Length}

		prefix := []byte("prefix")
		ours := frame.AppendHeader(prefix[:len(prefix):len(prefix)], h)
		if !bytes.Equal(ours[:len(prefix)], prefix) {
			t.Fatalf("%+v: dst overwritten: % x", h, ours)
		}
		ours = ours[len(prefix):]
		var theirs bytes.Buffer
		if err := ws.WriteHeader(&theirs, gh); err != nil {
			t.Fatalf("%+v: gobwas: %v", h, err)
		}
		if !bytes.Equal(ours, theirs.Bytes()) {
			t.Fatalf("%+v: ours % x, gobwas % x", h, ours, theirs.Bytes())
		}
		if h.Size() != len(ours) || ws.HeaderSize(gh) != len(ours) {
			t.Fatalf("%+v: %d bytes, Size %d, gobwas HeaderSize %d", h, len(ours), h.Size(), ws.HeaderSize(gh))
		}

		var want error
		switch {
		case h.Op.IsReserved():
			want = frame.ErrReservedOpcode
		case h.Op.IsControl() && !h.Fin:
			want = frame.ErrControlFragmented
		case h.Op.IsControl() && h.Length > frame.MaxControlPayload:
			want = frame.ErrControlTooLong
		}
		got, n, err := frame.Parse(ours)
		if err != want || n != len(ours) || (err == nil && got != h) {
			t.Fatalf("% x: Parse %+v %d %v, want %+v %d %v", ours, got, n, err, h, len(ours), want)
		}
	})
}
