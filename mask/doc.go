// Package mask applies the WebSocket masking of RFC 6455 section 5.3: an
// XOR of the payload with a 4-byte key. The key position carries over, so a
// payload can be masked in pieces as it is read or written:
//
//	pos := 0
//	for _, piece := range pieces {
//		pos = mask.XOR(piece, key, pos)
//	}
//
// Masking and unmasking are the same operation. Large payloads use AVX-512
// or AVX2 on amd64 and NEON on arm64; build with -tags purego for the
// portable code only.
package mask
