//go:build purego || !(amd64 || arm64)

package mask

func asmImpls() []impl { return nil }
