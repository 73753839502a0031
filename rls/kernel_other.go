//go:build !amd64 || purego

package rls

import "runtime"

func hasAVX2FMA() bool { return false }

// hasFMA reports whether math.FMA compiles to a plain hardware instruction
// here. Not on amd64 (see kernel_amd64.go), nor on 386 and 32-bit arm.
func hasFMA() bool {
	switch runtime.GOARCH {
	case "arm64", "ppc64", "ppc64le", "s390x", "riscv64", "loong64":
		return true
	}
	return false
}

func pvecAVX2(n int, p, x, theta, pi *float64) (xpi, xtheta, api, atheta float64) {
	panic("rls: no assembly kernels")
}

func pupdateAVX2(n int, p, pi, x, theta *float64, invLambda, s, gain float64) (trace, sx float64) {
	panic("rls: no assembly kernels")
}
