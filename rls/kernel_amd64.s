//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA kernels for Model.Update. They must perform exactly the
// floating-point operations of the Go code in kernel.go, in the same order,
// so that both give bit-identical results (see TestKernelsMatchGo).
//
// Column chunks: a row of n ≥ 4 doubles is covered by chunks of 16, 8 and 4
// columns; a last partial chunk is replaced by the 4 columns ending at n,
// which overlap columns already done. Recomputing a column repeats the same
// operations, so it writes the same value again.

// func pvecAVX2(n int, p, x, pi *float64)
// pi[c] = Σ_j x[j]·p[j*n+c], c in [0, n), n ≥ 4: per column, an FMA chain
// over the even rows (plus the last row when n is odd), one over the odd
// rows, then their sum.
TEXT ·pvecAVX2(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	MOVQ p+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ pi+24(FP), DI
	MOVQ CX, R8
	SHLQ $3, R8            // R8 = row stride in bytes
	MOVQ CX, R12
	ANDQ $-2, R12          // R12 = n rounded down to even
	XORQ R9, R9            // R9 = c, first column of the chunk

c16:
	LEAQ 16(R9), AX
	CMPQ AX, CX
	JGT  c8
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	LEAQ (SI)(R9*8), R10   // R10 = &p[j*n+c]
	XORQ R11, R11          // R11 = j

j16:
	VBROADCASTSD (DX)(R11*8), Y8
	VBROADCASTSD 8(DX)(R11*8), Y9
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  32(R10), Y8, Y1
	VFMADD231PD  64(R10), Y8, Y2
	VFMADD231PD  96(R10), Y8, Y3
	VFMADD231PD  (R10)(R8*1), Y9, Y4
	VFMADD231PD  32(R10)(R8*1), Y9, Y5
	VFMADD231PD  64(R10)(R8*1), Y9, Y6
	VFMADD231PD  96(R10)(R8*1), Y9, Y7
	LEAQ         (R10)(R8*2), R10
	ADDQ         $2, R11
	CMPQ         R11, R12
	JLT          j16
	CMPQ         R11, CX
	JGE          s16
	VBROADCASTSD (DX)(R11*8), Y8
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  32(R10), Y8, Y1
	VFMADD231PD  64(R10), Y8, Y2
	VFMADD231PD  96(R10), Y8, Y3

s16:
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  Y6, Y2, Y2
	VADDPD  Y7, Y3, Y3
	VMOVUPD Y0, (DI)(R9*8)
	VMOVUPD Y1, 32(DI)(R9*8)
	VMOVUPD Y2, 64(DI)(R9*8)
	VMOVUPD Y3, 96(DI)(R9*8)
	MOVQ    AX, R9
	JMP     c16

c8:
	LEAQ   8(R9), AX
	CMPQ   AX, CX
	JGT    c4
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	LEAQ   (SI)(R9*8), R10
	XORQ   R11, R11

j8:
	VBROADCASTSD (DX)(R11*8), Y8
	VBROADCASTSD 8(DX)(R11*8), Y9
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  32(R10), Y8, Y1
	VFMADD231PD  (R10)(R8*1), Y9, Y4
	VFMADD231PD  32(R10)(R8*1), Y9, Y5
	LEAQ         (R10)(R8*2), R10
	ADDQ         $2, R11
	CMPQ         R11, R12
	JLT          j8
	CMPQ         R11, CX
	JGE          s8
	VBROADCASTSD (DX)(R11*8), Y8
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  32(R10), Y8, Y1

s8:
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VMOVUPD Y0, (DI)(R9*8)
	VMOVUPD Y1, 32(DI)(R9*8)
	MOVQ    AX, R9
	JMP     c8

c4:
	CMPQ R9, CX
	JGE  pdone
	LEAQ 4(R9), AX
	CMPQ AX, CX
	JLE  c4go
	MOVQ CX, R9            // last partial chunk: the 4 columns ending at n
	SUBQ $4, R9
	MOVQ CX, AX

c4go:
	VXORPD Y0, Y0, Y0
	VXORPD Y4, Y4, Y4
	LEAQ   (SI)(R9*8), R10
	XORQ   R11, R11

j4:
	VBROADCASTSD (DX)(R11*8), Y8
	VBROADCASTSD 8(DX)(R11*8), Y9
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  (R10)(R8*1), Y9, Y4
	LEAQ         (R10)(R8*2), R10
	ADDQ         $2, R11
	CMPQ         R11, R12
	JLT          j4
	CMPQ         R11, CX
	JGE          s4
	VBROADCASTSD (DX)(R11*8), Y8
	VFMADD231PD  (R10), Y8, Y0

s4:
	VADDPD  Y4, Y0, Y0
	VMOVUPD Y0, (DI)(R9*8)
	MOVQ    AX, R9
	JMP     c4

pdone:
	VZEROUPPER
	RET

// func pupdateAVX2(n int, p, pi, x *float64, invLambda, c float64) (trace, sx float64)
// p[i*n+j] = fma(−(pi[j]·pi[i]), c, p[i*n+j]·invLambda) for i, j in
// [0, n), n ≥ 4, in place. Per row, when n is not a multiple of 4, the 4
// columns ending at n are computed first, from the entries as they were,
// and stored last; in between, chunks of 16, 8 and 4 columns cover the
// rest. The overlapped columns are stored twice with the same value, and
// no chunk is loaded after a store to part of it. The new diagonal entry
// is computed again as a scalar (the same operations) before the row is
// stored: trace sums them in index order, sx sums x[i]·x[i]·d.
TEXT ·pupdateAVX2(SB), NOSPLIT, $0-64
	MOVQ         n+0(FP), CX
	MOVQ         p+8(FP), SI
	MOVQ         pi+16(FP), DX
	MOVQ         x+24(FP), DI
	VBROADCASTSD invLambda+32(FP), Y14
	VBROADCASTSD c+40(FP), Y8
	VXORPD       Y13, Y13, Y13 // trace
	VXORPD       Y10, Y10, Y10 // sx
	MOVQ         CX, R12
	SUBQ         $4, R12       // R12 = n − 4, the first column of the tail
	MOVQ         CX, R13
	ANDQ         $3, R13       // R13 ≠ 0: there is a tail
	XORQ         BX, BX        // BX = i

row:
	VBROADCASTSD (DX)(BX*8), Y15 // pi[i]
	VMULSD       (SI)(BX*8), X14, X11
	VMULSD       X15, X15, X12
	VFNMADD231SD X8, X12, X11    // d = the new p[i*n+i]
	VADDSD       X11, X13, X13
	VMOVSD       (DI)(BX*8), X12
	VMULSD       X12, X12, X12
	VMULSD       X11, X12, X12
	VADDSD       X12, X10, X10
	XORQ         R9, R9          // R9 = c
	TESTQ        R13, R13
	JZ           r16
	VMULPD       (SI)(R12*8), Y14, Y9
	VMULPD       (DX)(R12*8), Y15, Y4
	VFNMADD231PD Y8, Y4, Y9

r16:
	LEAQ         16(R9), AX
	CMPQ         AX, CX
	JGT          r8
	VMULPD       (SI)(R9*8), Y14, Y0
	VMULPD       32(SI)(R9*8), Y14, Y1
	VMULPD       64(SI)(R9*8), Y14, Y2
	VMULPD       96(SI)(R9*8), Y14, Y3
	VMULPD       (DX)(R9*8), Y15, Y4
	VMULPD       32(DX)(R9*8), Y15, Y5
	VMULPD       64(DX)(R9*8), Y15, Y6
	VMULPD       96(DX)(R9*8), Y15, Y7
	VFNMADD231PD Y8, Y4, Y0
	VFNMADD231PD Y8, Y5, Y1
	VFNMADD231PD Y8, Y6, Y2
	VFNMADD231PD Y8, Y7, Y3
	VMOVUPD      Y0, (SI)(R9*8)
	VMOVUPD      Y1, 32(SI)(R9*8)
	VMOVUPD      Y2, 64(SI)(R9*8)
	VMOVUPD      Y3, 96(SI)(R9*8)
	MOVQ         AX, R9
	JMP          r16

r8:
	LEAQ         8(R9), AX
	CMPQ         AX, CX
	JGT          r4
	VMULPD       (SI)(R9*8), Y14, Y0
	VMULPD       32(SI)(R9*8), Y14, Y1
	VMULPD       (DX)(R9*8), Y15, Y4
	VMULPD       32(DX)(R9*8), Y15, Y5
	VFNMADD231PD Y8, Y4, Y0
	VFNMADD231PD Y8, Y5, Y1
	VMOVUPD      Y0, (SI)(R9*8)
	VMOVUPD      Y1, 32(SI)(R9*8)
	MOVQ         AX, R9

r4:
	// At most one whole chunk of 4 is left.
	LEAQ         4(R9), AX
	CMPQ         AX, CX
	JGT          tail
	VMULPD       (SI)(R9*8), Y14, Y0
	VMULPD       (DX)(R9*8), Y15, Y4
	VFNMADD231PD Y8, Y4, Y0
	VMOVUPD      Y0, (SI)(R9*8)

tail:
	TESTQ   R13, R13
	JZ      rowdone
	VMOVUPD Y9, (SI)(R12*8)

rowdone:
	LEAQ (SI)(CX*8), SI
	INCQ BX
	CMPQ BX, CX
	JLT  row
	VMOVSD X13, trace+48(FP)
	VMOVSD X10, sx+56(FP)
	VZEROUPPER
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
