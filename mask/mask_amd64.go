//go:build !purego

package mask

import "golang.org/x/sys/cpu"

// Chosen once: AVX-512 needs BW for the byte-masked head and tail.
var (
	useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	useAVX2   = cpu.X86.HasAVX2
)

// Below this length the Go loop wins over the call into assembly.
const minAsm = 64

func xor(b []byte, k uint32) {
	switch {
	case len(b) < minAsm:
		xorGeneric(b, k)
	case useAVX512:
		xorAVX512(b, k)
	case useAVX2:
		n := xorAVX2(b, k)
		xorGeneric(b[n:], k) // n is a multiple of 4: the key phase is unchanged
	default:
		xorGeneric(b, k)
	}
}

// xorAVX512 masks all of b.
//
//go:noescape
func xorAVX512(b []byte, k uint32)

// xorAVX2 masks the first n bytes of b, n = len(b) rounded down to 32.
//
//go:noescape
func xorAVX2(b []byte, k uint32) (n int)
