package codec

import (
	"testing"

	"github.com/streamrls/streamrls/rls"
)

// TestBankSize: BankSize is the length AppendBank writes.
func TestBankSize(t *testing.T) {
	for _, specs := range [][]rls.Spec{rls.DefaultSpecs(), {{Name: "a-much-longer-name", Lambda: 0.9, Delta: 1}}} {
		for _, n := range []int{1, 3, 10, 100} {
			if got, want := BankSize(specs, n), len(AppendBank(nil, rls.NewBank(specs, n))); got != want {
				t.Errorf("%d models, n=%d: BankSize %d, AppendBank wrote %d", len(specs), n, got, want)
			}
		}
	}
}
