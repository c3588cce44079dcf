//go:build !purego

#include "textflag.h"

// The lookup algorithm of Keiser and Lemire, "Validating UTF-8 in less than
// one instruction per byte" (2021), as in simdjson: three nibble lookups
// classify each pair of adjacent bytes into the kinds of error that pair
// can show, and a check of the bytes two and three back finds where a
// continuation byte must or must not be.

// byte_1_high: the error kinds a first byte's high nibble allows
DATA ·byte1High<>+0(SB)/8, $0x0202020202020202
DATA ·byte1High<>+8(SB)/8, $0x4915012180808080
DATA ·byte1High<>+16(SB)/8, $0x0202020202020202
DATA ·byte1High<>+24(SB)/8, $0x4915012180808080
GLOBL ·byte1High<>(SB), RODATA|NOPTR, $32

// byte_1_low: the error kinds its low nibble allows
DATA ·byte1Low<>+0(SB)/8, $0xcbcbcb8b8383a3e7
DATA ·byte1Low<>+8(SB)/8, $0xcbcbdbcbcbcbcbcb
DATA ·byte1Low<>+16(SB)/8, $0xcbcbcb8b8383a3e7
DATA ·byte1Low<>+24(SB)/8, $0xcbcbdbcbcbcbcbcb
GLOBL ·byte1Low<>(SB), RODATA|NOPTR, $32

// byte_2_high: the error kinds the next byte's high nibble allows
DATA ·byte2High<>+0(SB)/8, $0x0101010101010101
DATA ·byte2High<>+8(SB)/8, $0x01010101babaaee6
DATA ·byte2High<>+16(SB)/8, $0x0101010101010101
DATA ·byte2High<>+24(SB)/8, $0x01010101babaaee6
GLOBL ·byte2High<>(SB), RODATA|NOPTR, $32

DATA ·nibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA ·nibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA ·nibble<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA ·nibble<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL ·nibble<>(SB), RODATA|NOPTR, $32

// Saturating subtraction of these leaves bit 7 set in bytes 0xE0 and up,
// and 0xF0 and up: leads of 3 and 4 bytes.
DATA ·lead3<>+0(SB)/8, $0x6060606060606060
DATA ·lead3<>+8(SB)/8, $0x6060606060606060
DATA ·lead3<>+16(SB)/8, $0x6060606060606060
DATA ·lead3<>+24(SB)/8, $0x6060606060606060
GLOBL ·lead3<>(SB), RODATA|NOPTR, $32

DATA ·lead4<>+0(SB)/8, $0x7070707070707070
DATA ·lead4<>+8(SB)/8, $0x7070707070707070
DATA ·lead4<>+16(SB)/8, $0x7070707070707070
DATA ·lead4<>+24(SB)/8, $0x7070707070707070
GLOBL ·lead4<>(SB), RODATA|NOPTR, $32

DATA ·bit7<>+0(SB)/8, $0x8080808080808080
DATA ·bit7<>+8(SB)/8, $0x8080808080808080
DATA ·bit7<>+16(SB)/8, $0x8080808080808080
DATA ·bit7<>+24(SB)/8, $0x8080808080808080
GLOBL ·bit7<>(SB), RODATA|NOPTR, $32

// Saturating subtraction of this is nonzero where a sequence begun in the
// last three bytes needs more.
DATA ·incomplete<>+0(SB)/8, $0xffffffffffffffff
DATA ·incomplete<>+8(SB)/8, $0xffffffffffffffff
DATA ·incomplete<>+16(SB)/8, $0xffffffffffffffff
DATA ·incomplete<>+24(SB)/8, $0xbfdfefffffffffff
GLOBL ·incomplete<>(SB), RODATA|NOPTR, $32

// CHECK accumulates into Y6 the errors in the 32 bytes in, given the 32
// bytes before them in prev. Y0..Y3 are scratch.
#define CHECK(in, prev) \
	VPERM2I128 $0x21, in, prev, Y0 \
	VPALIGNR   $15, Y0, in, Y1     \ // the byte before each byte
	VPALIGNR   $14, Y0, in, Y2     \ // two before
	VPALIGNR   $13, Y0, in, Y0     \ // three before
	VPSRLW     $4, Y1, Y3          \
	VPAND      Y14, Y3, Y3         \
	VPSHUFB    Y3, Y13, Y3         \
	VPAND      Y14, Y1, Y1         \
	VPSHUFB    Y1, Y12, Y1         \
	VPAND      Y3, Y1, Y1          \
	VPSRLW     $4, in, Y3          \
	VPAND      Y14, Y3, Y3         \
	VPSHUFB    Y3, Y11, Y3         \
	VPAND      Y3, Y1, Y1          \ // the special cases of each pair
	VPSUBUSB   ·lead3<>(SB), Y2, Y2 \
	VPSUBUSB   ·lead4<>(SB), Y0, Y0 \
	VPOR       Y0, Y2, Y2          \
	VPAND      ·bit7<>(SB), Y2, Y2 \ // where a 2nd or 3rd continuation must be
	VPXOR      Y1, Y2, Y2          \
	VPOR       Y2, Y6, Y6

// func validAVX2(p []byte) (ok, open bool)
//
// validAVX2 reports whether p, whose length is a multiple of 64 and which
// starts on a character boundary, holds no invalid byte, and whether a
// sequence begun in its last three bytes is left open. An open sequence is
// not an error here.
TEXT ·validAVX2(SB), NOSPLIT, $0-26
	MOVQ    p_base+0(FP), SI
	MOVQ    p_len+8(FP), CX
	VMOVDQU ·nibble<>(SB), Y14
	VMOVDQU ·byte1High<>(SB), Y13
	VMOVDQU ·byte1Low<>(SB), Y12
	VMOVDQU ·byte2High<>(SB), Y11
	VMOVDQU ·bit7<>(SB), Y15
	VPXOR   Y6, Y6, Y6 // errors
	VPXOR   Y7, Y7, Y7 // the previous 32 bytes
	VPXOR   Y8, Y8, Y8 // sequences the previous 32 bytes left incomplete

loop:
	CMPQ CX, $128
	JB   block64
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPOR    64(SI), Y4, Y0
	VPOR    96(SI), Y5, Y1
	VPOR    Y0, Y1, Y0
	VPMOVMSKB Y0, AX
	TESTL   AX, AX
	JNZ     multibyte

	// 128 bytes of ASCII: an error only if the bytes before left a sequence
	// open. Then no state is carried until the next non-ASCII byte, and the
	// loop below tests 256 bytes a step with nothing else; where it sees one
	// ahead, the steps above find it.
	VPOR  Y8, Y6, Y6
	VPXOR Y8, Y8, Y8
	VPXOR Y7, Y7, Y7
	ADDQ  $128, SI
	SUBQ  $128, CX

ascii:
	CMPQ    CX, $256
	JB      loop
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VPOR    64(SI), Y0, Y0
	VPOR    96(SI), Y1, Y1
	VPOR    128(SI), Y0, Y0
	VPOR    160(SI), Y1, Y1
	VPOR    192(SI), Y0, Y0
	VPOR    224(SI), Y1, Y1
	VPOR    Y0, Y1, Y0
	VPTEST  Y15, Y0
	JNZ     loop
	ADDQ    $256, SI
	SUBQ    $256, CX
	JMP     ascii

block64:
	TESTQ   CX, CX
	JZ      done
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPOR    Y4, Y5, Y0
	VPMOVMSKB Y0, AX
	TESTL   AX, AX
	JNZ     multibyte
	VPOR    Y8, Y6, Y6
	VPXOR   Y8, Y8, Y8
	VPXOR   Y7, Y7, Y7
	JMP     next

multibyte:
	CHECK(Y4, Y7)
	CHECK(Y5, Y4)
	VPSUBUSB ·incomplete<>(SB), Y5, Y8
	VMOVDQU  Y5, Y7

next:
	ADDQ $64, SI
	SUBQ $64, CX
	JMP  loop

done:
	VPTEST Y6, Y6
	SETEQ  ok+24(FP)
	VPTEST Y8, Y8
	SETNE  open+25(FP)
	VZEROUPPER
	RET
