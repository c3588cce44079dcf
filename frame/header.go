package frame

import (
	"encoding/binary"
	"io"
	"math"
)

// The reserved bits of the first header byte, as kept in Header.Rsv.
const (
	Rsv1 byte = 0x4
	Rsv2 byte = 0x2
	Rsv3 byte = 0x1
)

const (
	// MaxHeaderSize is the longest header: 2 bytes, an 8-byte length and a 4-byte key.
	MaxHeaderSize = 14
	// MaxControlPayload is the longest payload of a control frame.
	MaxControlPayload = 125
)

// Header is a frame header (RFC 6455 section 5.2).
type Header struct {
	Fin    bool
	Rsv    byte // RSV1-RSV3 as Rsv1|Rsv2|Rsv3
	Op     Opcode
	Masked bool
	Key    [4]byte
	Length int64
}

// Size returns the encoded length of h.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > math.MaxUint16:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// Parse parses the header at the start of b and returns it with the number of
// bytes it took. If b holds only part of it, Parse returns ErrShort and the
// number of bytes needed so far (which may grow once the length is known).
// Parse enforces the rules that need no connection state: reserved opcodes,
// fragmented or long control frames, and the length encoding. The rules that
// depend on role and negotiation are Checker's.
func Parse(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 2, ErrShort
	}
	b0, b1 := b[0], b[1]
	need := 2
	switch b1 & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if b1&0x80 != 0 {
		need += 4
	}
	if len(b) < need {
		return Header{}, need, ErrShort
	}
	h := Header{
		Fin:    b0&0x80 != 0,
		Rsv:    (b0 >> 4) & 0x7,
		Op:     Opcode(b0 & 0xf),
		Masked: b1&0x80 != 0,
	}
	i := 2
	switch l := b1 & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		i += 2
		if h.Length < 126 {
			return h, need, ErrNonMinimalLength
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		i += 8
		if u > math.MaxInt64 {
			return h, need, ErrLengthOverflow
		}
		h.Length = int64(u)
		if h.Length <= math.MaxUint16 {
			return h, need, ErrNonMinimalLength
		}
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Key[:], b[i:i+4])
	}
	if h.Op.IsReserved() {
		return h, need, ErrReservedOpcode
	}
	if h.Op.IsControl() {
		if !h.Fin {
			return h, need, ErrControlFragmented
		}
		if h.Length > MaxControlPayload {
			return h, need, ErrControlTooLong
		}
	}
	return h, need, nil
}

// ReadHeader reads one header from r using buf, which must hold at least
// MaxHeaderSize bytes, as scratch space; it reads no byte past the header.
func ReadHeader(r io.Reader, buf []byte) (Header, error) {
	buf = buf[:MaxHeaderSize]
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return Header{}, err
	}
	h, n, err := Parse(buf[:2])
	if err == ErrShort {
		if _, err := io.ReadFull(r, buf[2:n]); err != nil {
			return Header{}, noEOF(err)
		}
		h, _, err = Parse(buf[:n])
	}
	return h, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendHeader appends the encoding of h to dst. The length must not be negative.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Op&0xf) | (h.Rsv&0x7)<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length > math.MaxUint16:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	case h.Length > 125:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|byte(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Key[:]...)
	}
	return dst
}
