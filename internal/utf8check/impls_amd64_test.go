//go:build !purego

package utf8check

func asmImpls() []impl {
	if !useAVX2 {
		return nil
	}
	return []impl{{"avx2", writeAVX2}}
}
