//go:build race

package rls

// The race detector slows the long numerical runs tenfold; there is no
// concurrency in this package to check, so they run shorter under it.
const raceEnabled = true
