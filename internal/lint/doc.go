// Package lint holds tests that check the source tree as a whole.
package lint
