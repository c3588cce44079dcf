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

// dataOps maps the first header byte of a final, uncompressed text or
// binary frame to its opcode, and every other first byte to 0.
var dataOps = [256]Opcode{0x80 | byte(OpText): OpText, 0x80 | byte(OpBinary): OpBinary}

// ParseData parses the header at the start of b in the commonest case of a
// message, one whole uncompressed frame: FIN set, no reserved bit, text or
// binary, a 7- or 16-bit length in its shortest form, masked exactly when
// masked is true. It returns the opcode, the payload length and the
// header's size (with the masking key, MaskKey(b[:n])), or n == 0 for any
// other header and when b holds fewer than 4 bytes or part of the header;
// Parse then decodes it or says which rule it breaks.
//
// ParseData is kept within the compiler's inlining budget (and
// TestParseDataInlines checks it), for the read loops that call it once a
// message: a call costs about 8 ns.
func ParseData(b []byte, masked bool) (op Opcode, length, n int) {
	if len(b) < 4 || b[1] >= 0x80 != masked {
		return 0, 0, 0
	}
	op, length, n = dataOps[b[0]], int(b[1]&0x7f), 2
	if length == 126 {
		length, n = int(binary.BigEndian.Uint16(b[2:])), 4
	}
	if masked {
		n += 4
	}
	// The 7-bit form (n is 2 or 6) must hold under 126, the 16-bit form
	// (4 or 8) at least 126.
	if op == 0 || n > len(b) || length >= 126 != (n&2 == 0) {
		return 0, 0, 0
	}
	return op, length, n
}

// MaskKey returns the masking key of the masked header h, its last 4 bytes.
func MaskKey(h []byte) [4]byte { return [4]byte(h[len(h)-4:]) }

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

// AppendShortHeader appends the header of an unmasked final frame of at
// most 125 bytes, the one a server writes most, and reports true; it
// appends nothing and reports false for any other header, which
// AppendHeader encodes. Unlike AppendHeader it is small enough to inline
// (h by pointer: a copy of it costs the hot path about 8 ns).
func AppendShortHeader(dst []byte, h *Header) ([]byte, bool) {
	if uint64(h.Length) > 125 || h.Masked || !h.Fin {
		return dst, false
	}
	return append(dst, 0x80|h.Rsv<<4|byte(h.Op), byte(h.Length)), true
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
