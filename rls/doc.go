// Package rls is the estimator: exponentially weighted recursive least squares
// (Haykin, Adaptive Filter Theory, RLS table), one Model per forgetting factor,
// and a Bank of models that learn from the same samples. Pure math on the
// standard library (gonum only in tests, as the reference): no Kafka, no I/O.
//
// # The update
//
// A model with forgetting factor λ ∈ (0, 1] holds θ ∈ Rⁿ and the symmetric
// positive definite P ∈ Rⁿˣⁿ, starting from θ₀ = 0, P₀ = δ·I. One sample
// (x, y):
//
//	π = P x
//	κ = λ + xᵀπ
//	k = π / κ
//	e = y − xᵀθ            (a-priori error: returned, and fed to the MSE figures)
//	θ ← θ + k e
//	P ← (P − k πᵀ) / λ
//
// After samples 1..N (and as long as the windup cap below never engaged) θ and
// P equal, up to rounding, the regularised weighted least-squares solution
//
//	R_N = λᴺ P₀⁻¹ + Σᵢ λᴺ⁻ⁱ xᵢ xᵢᵀ,   P_N = R_N⁻¹,   θ_N = R_N⁻¹ Σᵢ λᴺ⁻ⁱ xᵢ yᵢ;
//
// the package rlstest computes that closed form for tests.
//
// # Exact symmetry
//
// Written entry by entry as P[i][j] − k[i]·π[j], the P update is not exactly
// symmetric, and with λ < 1 the asymmetry is divided by λ at every step and
// grows like λ⁻ᵗ. Here, with v = π/√(κλ), every entry is computed as
//
//	P'[i][j] = fma(−v[i], v[j], P[i][j]·(1/λ))
//
// (the same value as (P − kπᵀ)/λ, since kπᵀ = ππᵀ/κ). The fused
// multiply-add subtracts the exact product v[i]·v[j], which is the same
// number as v[j]·v[i], and entry (j, i) goes through exactly the operations
// of entry (i, j): P stays symmetric bit for bit, P[i*n+j] == P[j*n+i], for
// ever (without FMA, the rounded product is just as symmetric).
//
// # Any scale
//
// A sample far larger than P expects shrinks P along x by the factor κ/λ,
// and P − ππᵀ/κ then cancels to rounding noise (often indefinite). So the
// update above, computed in place, is the fast path only while
// κ ≤ 2²⁰·λ; a sample beyond that (or one whose κ overflows) takes a slow
// path of O(n³) that computes the same update in equilibrated coordinates
// and square-root form (robust.go): with D = diag(√P_ii), the Cholesky
// factor L of D⁻¹PD⁻¹, x̂ = Dx/s (s a power of two) and v̂ = Lᵀx̂/|Lᵀx̂|,
//
//	λ·D⁻¹P'D⁻¹ = G Gᵀ + (λ/κ)·w wᵀ,   w = L v̂,   G = L − w v̂ᵀ,
//
// a sum of positive semidefinite terms with λ/κ computed directly, exact
// along a feature's axis however small P' gets there. Where float64 cannot
// represent the exact P' (P' shrinking by more than about 2⁵² along a
// direction that is not an axis, or collinear features), a Cholesky check
// of the equilibrated P' lifts it: P's diagonal is multiplied by 1 + μ for
// the least ridge μ = 2⁻⁴⁰·16ᵏ that makes D⁻¹P'D⁻¹ + μI factor with
// pivots > 2⁻⁴⁰, a little more uncertainty where the data say more than a
// float64 P can hold. The check runs after every slow step, after a fast
// step whose x has a small Rayleigh quotient in the equilibrated P', and
// every 4096 samples. So P stays exactly symmetric and positive definite,
// and finite inputs of magnitudes within 10^±150 are never rejected.
//
// σ̂² is floored at the smallest normal float64 once an error was not 0
// (errors near 10⁻³⁰⁰ square to 0), and squared errors beyond the largest
// float64 count as it, so σ̂², MSE and RecentMSE stay finite.
//
// # Rejections
//
// A sample is rejected, with an error and the model left unchanged bit for
// bit, when len(x) ≠ n, x or y is not finite, the new θ would not be finite
// (the exact least-squares answer overflows), or the model's own state is
// malformed. Everything that can fail is decided before anything is
// written, so a Bank applies a sample to all its models or to none.
//
// # Covariance windup cap
//
// With λ < 1, directions of the parameter space that the samples do not excite
// are forgotten without being re-learned: their part of P grows like λ⁻ᵗ (with
// x = 0 and λ = 0.99, P overflows after about 70 000 samples). So trace(P) is
// capped: when the trace of the updated P exceeds the cap, the whole updated P
// is multiplied by s = cap/trace(P) (nudged down by an ulp or so if rounding
// would leave the trace above the cap), so that trace(P) ≤ cap after every
// update. One positive factor for all entries keeps P exactly symmetric and
// positive definite and keeps its shape (the ratios between its entries and
// eigenvalues, i.e. which directions are well or poorly known); it amounts to
// multiplying the information matrix P⁻¹ by 1/s > 1, undoing part of that
// step's forgetting. Without any excitation (x = 0) P then stays at trace =
// cap, where forgetting stops, instead of diverging; with collinear x the
// excited direction keeps being learned while the others stop growing.
//
// The cap is Model.MaxTrace when it is > 0 (math.Inf(1) turns the cap off)
// and otherwise DefaultTraceFactor·δ·n = 10⁴·trace(P₀): the covariance may
// grow to ten thousand times the prior one. That is relative to the prior on
// purpose: δ states how uncertain θ may be before any data, so the cap scales
// with it and with n, and never depends on the units of x. A well-excited
// model stays far below it, and with λ = 1 P only shrinks (trace(P) ≤
// trace(P₀)), so there the cap never engages. Once it has engaged, θ and P
// differ from the closed form above.
//
// # Scores
//
// Every update also scores its sample: the standardised a-priori error
// z = e/√(σ̂²κ/λ) against the model's estimate σ̂² of the noise variance, an
// anomaly test on |z| and a CUSUM change detector on z (optionally
// resetting P on an alarm); PredictInterval gives prediction intervals for
// new x. See Scoring and docs/design.md, "Uncertainty, anomalies and drift".
//
// # Speed
//
// Update does not allocate: the fast path needs only π and the next θ as
// scratch (on the caller's stack for small n, else from a pool shared by
// all models), and writes the new P into the model's own array in place,
// so a model in memory holds only its state, laid out by NewModels with
// those of the other models of a key. On amd64 with AVX2 and FMA the two
// O(n²) loops (π = P x and the P update) run as assembly kernels;
// elsewhere, or with the purego build tag, portable Go code does the same
// work.
package rls
