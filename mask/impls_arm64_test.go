//go:build !purego

package mask

func asmImpls() []impl {
	return []impl{{"neon", func(b []byte, k uint32) {
		n := xorNEON(b, k)
		xorGeneric(b[n:], k)
	}}}
}
