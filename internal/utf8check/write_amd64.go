//go:build !purego

package utf8check

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2

func write(s uint8, p []byte) uint8 {
	if !useAVX2 || len(p) < 64 {
		return writeGeneric(s, p)
	}
	return writeAVX2(s, p)
}

// writeAVX2 finishes a pending sequence with the DFA, validates whole
// 64-byte blocks in SIMD, and leaves the DFA the rest, from the start of the
// last sequence if the blocks cut one.
func writeAVX2(s uint8, p []byte) uint8 {
	i := 0
	st := uint64(s)
	for ; st&63 > sErr && i < len(p); i++ { // mid-sequence
		st = table[p[i]] >> (st & 63)
	}
	if n := (len(p) - i) &^ 63; n > 0 {
		ok, open := validAVX2(p[i : i+n])
		if !ok {
			return sErr
		}
		end := i + n
		i = end
		for j := end - 1; open && j >= end-3; j-- {
			if p[j]&0xC0 != 0x80 {
				i = j
				break
			}
		}
	}
	if i == len(p) {
		return uint8(st & 63)
	}
	return writeGeneric(uint8(st&63), p[i:])
}

//go:noescape
func validAVX2(p []byte) (ok, open bool)
