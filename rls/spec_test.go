package rls

import (
	"math"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		errWant []string // substrings the error must contain; nil = no error
	}{
		{in: "mod1:1.0:10", want: Spec{"mod1", 1, 10}},
		{in: "mod2:0.99:1", want: Spec{"mod2", 0.99, 1}},
		{in: " fast : 0.9 : 1e3 ", want: Spec{"fast", 0.9, 1000}},
		{in: "x:1e-3:0.5", want: Spec{"x", 0.001, 0.5}},
		{in: "", errWant: []string{`""`, "NAME:LAMBDA:DELTA", "1 part"}},
		{in: "mod1", errWant: []string{`"mod1"`, "1 part"}},
		{in: "mod1:1", errWant: []string{`"mod1:1"`, "2 part"}},
		{in: "a:b:1:1", errWant: []string{`"a:b:1:1"`, "4 part"}},
		{in: ":1:10", errWant: []string{`":1:10"`, "name is empty"}},
		{in: "m:abc:10", errWant: []string{`"m:abc:10"`, `lambda "abc" is not a number`}},
		{in: "m::10", errWant: []string{`lambda "" is not a number`}},
		{in: "m:1:ten", errWant: []string{`"m:1:ten"`, `delta "ten" is not a number`}},
		{in: "m:0:10", errWant: []string{"lambda 0 is outside (0, 1]"}},
		{in: "m:-0.5:10", errWant: []string{"lambda -0.5 is outside (0, 1]"}},
		{in: "m:1.01:10", errWant: []string{"lambda 1.01 is outside (0, 1]"}},
		{in: "m:NaN:10", errWant: []string{"lambda NaN is outside (0, 1]"}},
		{in: "m:1:0", errWant: []string{"delta 0 is not a finite number > 0"}},
		{in: "m:1:-1", errWant: []string{"delta -1 is not a finite number > 0"}},
		{in: "m:1:Inf", errWant: []string{"delta +Inf is not a finite number > 0"}},
		{in: "m:1:NaN", errWant: []string{"delta NaN is not a finite number > 0"}},
		{in: strings.Repeat("n", 255) + ":1:1", want: Spec{strings.Repeat("n", 255), 1, 1}},
		{in: strings.Repeat("n", 256) + ":1:1", errWant: []string{"name is 256 bytes, want at most 255"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSpec(tc.in)
			if tc.errWant == nil {
				if err != nil {
					t.Fatalf("ParseSpec(%q): %v", tc.in, err)
				}
				if got != tc.want {
					t.Fatalf("ParseSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
				}
				if err := got.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
				back, err := ParseSpec(got.String())
				if err != nil || back != got {
					t.Fatalf("round trip via %q: %+v, %v", got.String(), back, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseSpec(%q) = %+v, want an error", tc.in, got)
			}
			for _, s := range tc.errWant {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ParseSpec(%q) error %q does not contain %q", tc.in, err, s)
				}
			}
		})
	}
}

func TestSpecValidateAndString(t *testing.T) {
	tests := []struct {
		s       Spec
		str     string
		errWant string
	}{
		{Spec{"mod1", 1, 10}, "mod1:1:10", ""},
		{Spec{"mod2", 0.99, 1}, "mod2:0.99:1", ""},
		{Spec{"a:b", 1, 1}, "", `name "a:b" contains ':'`},
		{Spec{"", 1, 1}, "", "name is empty"},
		{Spec{"m", math.Inf(1), 1}, "", "lambda +Inf is outside (0, 1]"},
		{Spec{"m", 1, math.MaxFloat64}, "m:1:1.7976931348623157e+308", ""},
		{Spec{"m", 1, math.SmallestNonzeroFloat64}, "m:1:5e-324", ""},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		if tc.errWant == "" {
			if err != nil {
				t.Errorf("%+v.Validate() = %v", tc.s, err)
			}
			if got := tc.s.String(); got != tc.str {
				t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.str)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errWant) {
			t.Errorf("%+v.Validate() = %v, want error containing %q", tc.s, err, tc.errWant)
		}
	}
}

func TestDefaultSpecs(t *testing.T) {
	got := DefaultSpecs()
	want := []Spec{{"mod1", 1, 10}, {"mod2", 0.99, 1}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("DefaultSpecs() = %+v, want %+v", got, want)
	}
	if err := ValidateSpecs(got); err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "mod1:1:10" || got[1].String() != "mod2:0.99:1" {
		t.Fatalf("strings %q %q", got[0], got[1])
	}
	got[0].Name = "changed" // callers get their own copy
	if DefaultSpecs()[0].Name != "mod1" {
		t.Fatal("DefaultSpecs shares its slice")
	}
}

func TestValidateSpecs(t *testing.T) {
	if err := ValidateSpecs(nil); err == nil {
		t.Error("no specs accepted")
	}
	if err := ValidateSpecs([]Spec{{"a", 1, 1}, {"a", 0.9, 1}}); err == nil || !strings.Contains(err.Error(), `"a" is used twice`) {
		t.Errorf("duplicate names: %v", err)
	}
	if err := ValidateSpecs([]Spec{{"a", 1, 1}, {"b", 2, 1}}); err == nil || !strings.Contains(err.Error(), "lambda 2") {
		t.Errorf("bad lambda: %v", err)
	}
}
