//go:build purego || !(amd64 || arm64)

package mask

func xor(b []byte, k uint32) { xorGeneric(b, k) }
