package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// cliDocsDir is where the generated CLI reference lives, relative to the
// repository root.
const cliDocsDir = "docs/cli"

// newGendocsCmd regenerates the Markdown CLI reference. It is hidden: a tool
// for the repository, not a role of the pipeline.
func newGendocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gendocs DIR",
		Short:  "Write the Markdown CLI reference (docs/cli) into DIR",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return writeCLIDocs(args[0])
		},
	}
}

// writeCLIDocs writes one Markdown file per command into dir, replacing the
// ones already there, from a fresh command tree: the tree being executed has
// been touched by the environment and by cobra's start-up.
func writeCLIDocs(dir string) error {
	root := newRoot()
	// The completion command is part of the binary (cobra adds it when it
	// executes the root), so it belongs in the reference.
	root.InitDefaultCompletionCmd()
	var disableTag func(*cobra.Command)
	disableTag = func(c *cobra.Command) {
		c.DisableAutoGenTag = true // no date footer: the output depends on the commands only
		for _, s := range c.Commands() {
			disableTag(s)
		}
	}
	disableTag(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, root.Name()+"*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("gendocs: %w", err)
	}
	return nil
}
