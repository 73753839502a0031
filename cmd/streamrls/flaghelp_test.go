package main

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxFlagHelp bounds a flag's help: what it sets and its default, in one
// line. The explanations are in docs/operations.md ("Settings").
const maxFlagHelp = 120

// TestFlagHelpShort: every flag's help fits in one line.
func TestFlagHelpShort(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if n := len([]rune(f.Usage)); n > maxFlagHelp {
				t.Errorf("%s --%s: help of %d characters, want at most %d: %s", c.CommandPath(), f.Name, n, maxFlagHelp, f.Usage)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
}
