//go:build !purego

package mask

func asmImpls() []impl {
	var m []impl
	if useAVX2 {
		m = append(m, impl{"avx2", func(b []byte, k uint32) {
			n := xorAVX2(b, k)
			xorGeneric(b[n:], k)
		}})
	}
	if useAVX512 {
		m = append(m, impl{"avx512", xorAVX512})
	}
	return m
}
