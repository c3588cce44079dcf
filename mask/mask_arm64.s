//go:build !purego

#include "textflag.h"

// func xorNEON(b []byte, k uint32) (n int)
TEXT ·xorNEON(SB), NOSPLIT, $0-40
	MOVD  b_base+0(FP), R0
	MOVD  b_len+8(FP), R1
	MOVWU k+24(FP), R2
	AND   $-64, R1, R1
	MOVD  R1, n+32(FP)
	CBZ   R1, done
	VDUP  R2, V0.S4

loop:
	VLD1   (R0), [V1.B16, V2.B16, V3.B16, V4.B16]
	VEOR   V0.B16, V1.B16, V1.B16
	VEOR   V0.B16, V2.B16, V2.B16
	VEOR   V0.B16, V3.B16, V3.B16
	VEOR   V0.B16, V4.B16, V4.B16
	VST1.P [V1.B16, V2.B16, V3.B16, V4.B16], 64(R0)
	SUBS   $64, R1, R1
	BNE    loop

done:
	RET
