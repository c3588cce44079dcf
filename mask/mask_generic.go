package mask

import "encoding/binary"

// xorGeneric masks b with k, whose low byte applies to b[0]. It works a word
// at a time: every 8-byte step keeps the key's phase.
func xorGeneric(b []byte, k uint32) {
	k64 := uint64(k)<<32 | uint64(k)
	for len(b) >= 64 {
		w := b[:64] // one bounds check for the eight words
		binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k64)
		binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k64)
		binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k64)
		binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k64)
		binary.LittleEndian.PutUint64(w[32:], binary.LittleEndian.Uint64(w[32:])^k64)
		binary.LittleEndian.PutUint64(w[40:], binary.LittleEndian.Uint64(w[40:])^k64)
		binary.LittleEndian.PutUint64(w[48:], binary.LittleEndian.Uint64(w[48:])^k64)
		binary.LittleEndian.PutUint64(w[56:], binary.LittleEndian.Uint64(w[56:])^k64)
		b = b[64:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^k)
		b = b[4:]
	}
	for i := range b {
		b[i] ^= byte(k >> (8 * i))
	}
}
