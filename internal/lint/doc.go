// Package lint holds tests of the source tree itself: the package layering
// that docs/design.md declares, and rules for comments and string literals.
package lint
