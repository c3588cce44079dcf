package mask

import (
	"encoding/binary"
	"math/bits"
)

// XOR masks (or unmasks) b in place with key, starting at key byte pos
// (0..3), and returns the key position after b: (pos+len(b))&3, so a payload
// can be processed in pieces.
func XOR(b []byte, key [4]byte, pos int) int {
	pos &= 3
	// Rotate the key so that the byte for b[0] comes first.
	xor(b, bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos))
	return (pos + len(b)) & 3
}
