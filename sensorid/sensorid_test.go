package sensorid

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	valid := []string{"1", "ünï", "a b", "50%", "#tag", "what?", "a/b", "日本語", "emoji😀", "x&y<z>", `quote"d`,
		"+plus", "...", ".a", strings.Repeat("k", MaxBytes), strings.Repeat("é", MaxBytes/2)}
	for _, id := range valid {
		if err := Check(id); err != nil {
			t.Errorf("Check(%q) = %v, want nil", id, err)
		}
	}
	invalid := []string{"", ".", "..", "\xff\xfe", "a\x00b", "tab\there", "nl\n", "del\x7f", "c1\u0085",
		strings.Repeat("k", MaxBytes+1), strings.Repeat("é", MaxBytes/2) + "x"}
	for _, id := range invalid {
		if err := Check(id); err == nil {
			t.Errorf("Check(%q) = nil, want an error", id)
		}
	}
}
