//go:build !purego

package mask

// Below this length the Go loop wins over the call into assembly.
const minAsm = 64

func xor(b []byte, k uint32) {
	if len(b) < minAsm {
		xorGeneric(b, k)
		return
	}
	n := xorNEON(b, k)
	xorGeneric(b[n:], k) // n is a multiple of 4: the key phase is unchanged
}

// xorNEON masks the first n bytes of b, n = len(b) rounded down to 64.
//
//go:noescape
func xorNEON(b []byte, k uint32) (n int)
