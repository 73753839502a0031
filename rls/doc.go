// Package rls is the estimator: exponentially weighted recursive least squares
// (Haykin, Adaptive Filter Theory, RLS table), one model per forgetting factor,
// and a Bank of models that learn from the same samples. Pure math on gonum:
// no Kafka, no I/O.
package rls
