//go:build purego || !amd64

package mask

func asmImpls() []impl { return nil }
