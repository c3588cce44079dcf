//go:build !purego

#include "textflag.h"

// func xorAVX512(b []byte, k uint32)
TEXT ·xorAVX512(SB), NOSPLIT, $0-28
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), SI
	MOVL k+24(FP), AX
	VPBROADCASTD AX, Z0
	CMPQ SI, $256
	JB   loop64

	// Mask the bytes up to a 64-byte boundary with a byte-masked load and
	// store, so that the main loop never splits a cache line, then rotate
	// the key to the phase at that boundary.
	MOVQ DI, CX
	NEGQ CX
	ANDQ $63, CX
	JZ   loop256
	MOVQ $1, BX
	SHLQ CX, BX
	DECQ BX
	KMOVQ BX, K1
	VMOVDQU8.Z (DI), K1, Z1
	VPXORD Z0, Z1, Z1
	VMOVDQU8 Z1, K1, (DI)
	ADDQ CX, DI
	SUBQ CX, SI
	ANDL $3, CX
	SHLL $3, CX
	RORL CX, AX
	VPBROADCASTD AX, Z0

loop256:
	CMPQ SI, $256
	JB   loop64
	VPXORD (DI), Z0, Z1
	VPXORD 64(DI), Z0, Z2
	VPXORD 128(DI), Z0, Z3
	VPXORD 192(DI), Z0, Z4
	VMOVDQU64 Z1, (DI)
	VMOVDQU64 Z2, 64(DI)
	VMOVDQU64 Z3, 128(DI)
	VMOVDQU64 Z4, 192(DI)
	ADDQ $256, DI
	SUBQ $256, SI
	JMP  loop256

loop64:
	CMPQ SI, $64
	JB   tail
	VPXORD (DI), Z0, Z1
	VMOVDQU64 Z1, (DI)
	ADDQ $64, DI
	SUBQ $64, SI
	JMP  loop64

tail:
	// The last 0..63 bytes: masked-off lanes are neither read nor written,
	// and cannot fault.
	TESTQ SI, SI
	JZ    done
	MOVQ  SI, CX
	MOVQ  $1, BX
	SHLQ  CX, BX
	DECQ  BX
	KMOVQ BX, K1
	VMOVDQU8.Z (DI), K1, Z1
	VPXORD Z0, Z1, Z1
	VMOVDQU8 Z1, K1, (DI)

done:
	VZEROUPPER
	RET

// func xorAVX2(b []byte, k uint32) (n int)
TEXT ·xorAVX2(SB), NOSPLIT, $0-40
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), SI
	ANDQ $-32, SI
	MOVQ SI, n+32(FP)
	MOVL k+24(FP), AX
	MOVD AX, X0
	VPBROADCASTD X0, Y0

loop128:
	CMPQ SI, $128
	JB   loop32
	VPXOR (DI), Y0, Y1
	VPXOR 32(DI), Y0, Y2
	VPXOR 64(DI), Y0, Y3
	VPXOR 96(DI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ $128, DI
	SUBQ $128, SI
	JMP  loop128

loop32:
	TESTQ SI, SI
	JZ    done
	VPXOR (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ $32, DI
	SUBQ $32, SI
	JMP  loop32

done:
	VZEROUPPER
	RET
