//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA kernels for Model.Update. They must perform exactly the
// floating-point operations of the Go code in kernel.go, in the same order,
// so that both give bit-identical results (see TestKernelsMatchGo).
//
// Column chunks: a row of n ≥ 4 doubles is covered by chunks of 16, 8 and 4
// columns up to the last multiple of 4, then a pair of columns (128-bit
// operations) and a single one (scalar operations) as n mod 4 requires.
// The chunks do not overlap, and θ and π (then v) are stored in the same
// chunks, so every load of P, θ or π covers exactly what one earlier store
// wrote: the CPU forwards it from its store buffer, whereas a load spanning
// two stores still in flight waits for them to reach the cache. Each update
// loads the P and θ that the previous one stored.

// SUMS adds the chunk of π in P (4 lanes, or 2 or 1 in the low lanes of
// a Y register whose other lanes are 0), at byte offset off from column c
// (R9), to the four sums: xᵀπ in Y10, xᵀθ in Y11, Σ|π| in Y13, Σ|θ| in
// Y14 (Y12 holds the mask of all bits but the sign). LD loads x's and θ's
// chunk in the width of P (VMOVUPD for 4 or 2 lanes, VMOVSD for 1) into
// the X or Y registers XS and TS; XW and TW name the same registers in Y.
// Lane k of each sum adds the indices ≡ k mod 4 in index order, a pair
// goes to lanes 0 and 1 and a single index to lane 0, without fused
// multiply-adds: dot2's and abs2's partial sums. The other lanes add exact
// zeros (a lane's sum is never −0).
#define SUMS(P, off, LD, XS, TS, XW, TW) \
	LD      off(DX)(R9*8), XS;  \
	LD      off(BX)(R9*8), TS;  \
	VMULPD  P, XW, Y15;         \
	VADDPD  Y15, Y10, Y10;      \
	VMULPD  TW, XW, XW;         \
	VADDPD  XW, Y11, Y11;       \
	VANDPD  Y12, P, Y15;        \
	VADDPD  Y15, Y13, Y13;      \
	VANDPD  Y12, TW, TW;        \
	VADDPD  TW, Y14, Y14

// PVEC_COLS sets pi[c : c+w] (c in R9) when c+w ≤ lim, else jumps to next:
// per column, an FMA chain in A over the even rows (plus the last row when
// n is odd), one in B over the odd rows, then their sum, which it adds to
// the sums (SUMS). BCAST broadcasts x[j] into S and T: VBROADCASTSD for
// w = 4 in Y registers, VMOVDDUP for w = 2 in X registers; AW is A as a Y
// register. loop and sum name the macro's own labels.
#define PVEC_COLS(w, lim, BCAST, A, B, S, T, AW, next, loop, sum) \
	LEAQ        w(R9), AX;          \
	CMPQ        AX, lim;            \
	JGT         next;               \
	VXORPD      A, A, A;            \
	VXORPD      B, B, B;            \
	LEAQ        (SI)(R9*8), R10;    \
	XORQ        R11, R11;           \
loop:;                              \
	BCAST       (DX)(R11*8), S;     \
	BCAST       8(DX)(R11*8), T;    \
	VFMADD231PD (R10), S, A;        \
	VFMADD231PD (R10)(R8*1), T, B;  \
	LEAQ        (R10)(R8*2), R10;   \
	ADDQ        $2, R11;            \
	CMPQ        R11, R12;           \
	JLT         loop;               \
	CMPQ        R11, CX;            \
	JGE         sum;                \
	BCAST       (DX)(R11*8), S;     \
	VFMADD231PD (R10), S, A;        \
sum:;                               \
	VADDPD      B, A, A;            \
	VMOVUPD     A, (DI)(R9*8);      \
	SUMS(AW, 0, VMOVUPD, S, T, Y8, Y9); \
	MOVQ        AX, R9

// func pvecAVX2(n int, p, x, theta, pi *float64) (xpi, xtheta, api, atheta float64)
// pi[c] = Σ_j x[j]·p[j*n+c], c in [0, n), n ≥ 4: per column, an FMA chain
// over the even rows (plus the last row when n is odd), one over the odd
// rows, then their sum. With each chunk of π, xᵀπ and xᵀθ as dot2 computes
// them, and Σ|π| and Σ|θ| as abs2 does (SUMS).
TEXT ·pvecAVX2(SB), NOSPLIT, $0-72
	MOVQ     n+0(FP), CX
	MOVQ     p+8(FP), SI
	MOVQ     x+16(FP), DX
	MOVQ     theta+24(FP), BX
	MOVQ     pi+32(FP), DI
	MOVQ     CX, R8
	SHLQ     $3, R8            // R8 = row stride in bytes
	MOVQ     CX, R12
	ANDQ     $-2, R12          // R12 = n rounded down to even
	MOVQ     CX, R13
	ANDQ     $-4, R13          // R13 = n rounded down to a multiple of 4
	XORQ     R9, R9            // R9 = c, first column of the chunk
	VXORPD   Y10, Y10, Y10
	VXORPD   Y11, Y11, Y11
	VXORPD   Y13, Y13, Y13
	VXORPD   Y14, Y14, Y14
	VPCMPEQQ Y12, Y12, Y12
	VPSRLQ   $1, Y12, Y12

c16:
	LEAQ 16(R9), AX
	CMPQ AX, R13
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
	SUMS(Y0, 0, VMOVUPD, Y8, Y9, Y8, Y9)
	SUMS(Y1, 32, VMOVUPD, Y8, Y9, Y8, Y9)
	SUMS(Y2, 64, VMOVUPD, Y8, Y9, Y8, Y9)
	SUMS(Y3, 96, VMOVUPD, Y8, Y9, Y8, Y9)
	MOVQ    AX, R9
	JMP     c16

c8:
	// After the chunks of 16, at most one of 8 and one of 4 are left.
	LEAQ   8(R9), AX
	CMPQ   AX, R13
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
	SUMS(Y0, 0, VMOVUPD, Y8, Y9, Y8, Y9)
	SUMS(Y1, 32, VMOVUPD, Y8, Y9, Y8, Y9)
	MOVQ    AX, R9

c4:
	PVEC_COLS(4, R13, VBROADCASTSD, Y0, Y4, Y8, Y9, Y0, c2, j4, s4)

c2:
	// A pair of columns, in the low 128 bits.
	PVEC_COLS(2, CX, VMOVDDUP, X0, X4, X8, X9, Y0, c1, j2, s2)

c1:
	// The last column, when n is odd.
	CMPQ   R9, CX
	JGE    dsum
	VXORPD X0, X0, X0
	VXORPD X4, X4, X4
	LEAQ   (SI)(R9*8), R10
	XORQ   R11, R11

j1:
	VMOVSD      (DX)(R11*8), X8
	VMOVSD      8(DX)(R11*8), X9
	VFMADD231SD (R10), X8, X0
	VFMADD231SD (R10)(R8*1), X9, X4
	LEAQ        (R10)(R8*2), R10
	ADDQ        $2, R11
	CMPQ        R11, R12
	JLT         j1
	VMOVSD      (DX)(R11*8), X8 // n odd: the last row
	VFMADD231SD (R10), X8, X0
	VADDSD      X4, X0, X0
	VMOVSD      X0, (DI)(R9*8)
	SUMS(Y0, 0, VMOVSD, X8, X9, Y8, Y9)

dsum:
	// (s0 + s1) + (s2 + s3) for two sums at once, twice.
	VHADDPD      Y11, Y10, Y0 // [a0+a1, b0+b1, a2+a3, b2+b3]
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VMOVSD       X0, xpi+40(FP)
	VMOVHPD      X0, xtheta+48(FP)
	VHADDPD      Y14, Y13, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VMOVSD       X0, api+56(FP)
	VMOVHPD      X0, atheta+64(FP)
	VZEROUPPER
	RET

// THETA_V sets θ[i] += π[i]·gain and π[i] ← π[i]·s = v[i] for the 4 (Y
// registers) or 2 (X registers) indices from R11: gain in G, s in S, A and
// V scratch.
#define THETA_V(A, G, S, V) \
	VMOVUPD (DX)(R11*8), V;     \
	VMULPD  V, G, A;            \
	VMULPD  V, S, V;            \
	VADDPD  (R10)(R11*8), A, A; \
	VMOVUPD A, (R10)(R11*8);    \
	VMOVUPD V, (DX)(R11*8)

// PUPD_COLS sets p[i*n+c : i*n+c+w] (row i at SI, c in R9) to
// fma(−v[i], v[c : c+w], p·invLambda) when c+w ≤ lim, else jumps to next:
// invLambda in L, v[i] in V (Y registers for w = 4, X for w = 2), A
// scratch.
#define PUPD_COLS(w, lim, A, L, V, next) \
	LEAQ         w(R9), AX;          \
	CMPQ         AX, lim;            \
	JGT          next;               \
	VMULPD       (SI)(R9*8), L, A;   \
	VFNMADD231PD (DX)(R9*8), V, A;   \
	VMOVUPD      A, (SI)(R9*8);      \
	MOVQ         AX, R9

// func pupdateAVX2(n int, p, pi, x, theta *float64, invLambda, s, gain float64) (trace, sx float64)
// theta[i] += pi[i]·gain (a multiply, then an add) and pi[i] ← pi[i]·s =
// v[i] for i in [0, n), then p[i*n+j] = fma(−v[i], v[j], p[i*n+j]·invLambda)
// for i, j in [0, n), n ≥ 4, in place, in the column chunks of pvecAVX2
// (θ and v too, so that every load of them matches one store). The new
// diagonal entry is computed again as a scalar (the same operations):
// trace sums them in index order, sx sums x[i]·x[i]·d.
TEXT ·pupdateAVX2(SB), NOSPLIT, $0-80
	MOVQ n+0(FP), CX
	MOVQ p+8(FP), SI
	MOVQ pi+16(FP), DX
	MOVQ x+24(FP), DI
	MOVQ CX, R12
	ANDQ $-4, R12          // R12 = n rounded down to a multiple of 4

	// θ and v, by 4 entries, then a pair, then one.
	MOVQ         theta+32(FP), R10
	VBROADCASTSD gain+56(FP), Y1
	VBROADCASTSD s+48(FP), Y2
	XORQ         R11, R11

th4:
	THETA_V(Y0, Y1, Y2, Y3)
	ADDQ    $4, R11
	CMPQ    R11, R12
	JLT     th4
	LEAQ    2(R11), AX
	CMPQ    AX, CX
	JGT     th1
	THETA_V(X0, X1, X2, X3)
	MOVQ    AX, R11

th1:
	CMPQ   R11, CX
	JGE    thdone
	VMOVSD (DX)(R11*8), X3
	VMULSD X3, X1, X0
	VMULSD X3, X2, X3
	VADDSD (R10)(R11*8), X0, X0
	VMOVSD X0, (R10)(R11*8)
	VMOVSD X3, (DX)(R11*8)

thdone:
	VBROADCASTSD invLambda+40(FP), Y14
	VXORPD       Y13, Y13, Y13 // trace
	VXORPD       Y10, Y10, Y10 // sx
	XORQ         BX, BX        // BX = i

row:
	VBROADCASTSD (DX)(BX*8), Y15 // v[i]
	VMULSD       (SI)(BX*8), X14, X11
	VFNMADD231SD X15, X15, X11   // d = the new p[i*n+i]
	VADDSD       X11, X13, X13
	VMOVSD       (DI)(BX*8), X12
	VMULSD       X12, X12, X12
	VMULSD       X11, X12, X12
	VADDSD       X12, X10, X10
	XORQ         R9, R9          // R9 = c

r16:
	LEAQ         16(R9), AX
	CMPQ         AX, R12
	JGT          r8
	VMULPD       (SI)(R9*8), Y14, Y0
	VMULPD       32(SI)(R9*8), Y14, Y1
	VMULPD       64(SI)(R9*8), Y14, Y2
	VMULPD       96(SI)(R9*8), Y14, Y3
	VFNMADD231PD (DX)(R9*8), Y15, Y0
	VFNMADD231PD 32(DX)(R9*8), Y15, Y1
	VFNMADD231PD 64(DX)(R9*8), Y15, Y2
	VFNMADD231PD 96(DX)(R9*8), Y15, Y3
	VMOVUPD      Y0, (SI)(R9*8)
	VMOVUPD      Y1, 32(SI)(R9*8)
	VMOVUPD      Y2, 64(SI)(R9*8)
	VMOVUPD      Y3, 96(SI)(R9*8)
	MOVQ         AX, R9
	JMP          r16

r8:
	LEAQ         8(R9), AX
	CMPQ         AX, R12
	JGT          r4
	VMULPD       (SI)(R9*8), Y14, Y0
	VMULPD       32(SI)(R9*8), Y14, Y1
	VFNMADD231PD (DX)(R9*8), Y15, Y0
	VFNMADD231PD 32(DX)(R9*8), Y15, Y1
	VMOVUPD      Y0, (SI)(R9*8)
	VMOVUPD      Y1, 32(SI)(R9*8)
	MOVQ         AX, R9

r4:
	// At most one whole chunk of 4 is left.
	PUPD_COLS(4, R12, Y0, Y14, Y15, r2)

r2:
	PUPD_COLS(2, CX, X0, X14, X15, r1)

r1:
	CMPQ         R9, CX
	JGE          rowdone
	VMULSD       (SI)(R9*8), X14, X0
	VFNMADD231SD (DX)(R9*8), X15, X0
	VMOVSD       X0, (SI)(R9*8)

rowdone:
	LEAQ (SI)(CX*8), SI
	INCQ BX
	CMPQ BX, CX
	JLT  row
	VMOVSD X13, trace+64(FP)
	VMOVSD X10, sx+72(FP)
	VZEROUPPER
	RET
