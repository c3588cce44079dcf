//go:build purego || !amd64

package utf8check

func write(s uint8, p []byte) uint8 { return writeGeneric(s, p) }
