// Package mask applies the WebSocket masking of RFC 6455 section 5.3: an
// XOR of the payload with a 4-byte key, resumable at any key position so a
// payload can be processed in pieces.
//
//	pos := 0
//	for _, piece := range pieces {
//		pos = mask.XOR(piece, key, pos)
//	}
package mask

import (
	"encoding/binary"
	"math/bits"
)

// XOR masks (or unmasks) b in place with key, starting at key byte pos
// (0..3), and returns the key position after b.
func XOR(b []byte, key [4]byte, pos int) int {
	pos &= 3
	next := (pos + len(b)) & 3
	if len(b) < 8 {
		for i := range b {
			b[i] ^= key[(pos+i)&3]
		}
		return next
	}
	// Rotate the key so that its first byte lines up with b[0].
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
	k := uint64(k32) | uint64(k32)<<32
	for len(b) >= 32 {
		v := binary.LittleEndian.Uint64(b)
		binary.LittleEndian.PutUint64(b, v^k)
		v = binary.LittleEndian.Uint64(b[8:])
		binary.LittleEndian.PutUint64(b[8:], v^k)
		v = binary.LittleEndian.Uint64(b[16:])
		binary.LittleEndian.PutUint64(b[16:], v^k)
		v = binary.LittleEndian.Uint64(b[24:])
		binary.LittleEndian.PutUint64(b[24:], v^k)
		b = b[32:]
	}
	for len(b) >= 8 {
		v := binary.LittleEndian.Uint64(b)
		binary.LittleEndian.PutUint64(b, v^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(k >> (8 * i))
	}
	return next
}
