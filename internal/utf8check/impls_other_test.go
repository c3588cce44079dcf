//go:build purego || !amd64

package utf8check

func asmImpls() []impl { return nil }
