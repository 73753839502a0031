package emitter

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
)

// TestOrder: round-robin sends one sample of each sensor in turn;
// sensor-major each sensor's share back to back, every sensor its share,
// the last one the rest.
func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sensorMajor bool
		count       int64
		want        []string
	}{
		{"round-robin", false, 7, []string{"1", "2", "3", "1", "2", "3", "1"}},
		{"sensor-major", true, 7, []string{"1", "1", "1", "2", "2", "2", "3"}},
		{"sensor-major, even", true, 6, []string{"1", "1", "2", "2", "3", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Sensors: 3, Count: tc.count, SensorMajor: tc.sensorMajor}
			cfg.defaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			var keys []string
			var failed atomic.Pointer[error]
			err := generate(context.Background(), cfg, func(key string, _ []byte, n int) error {
				if n != 1 {
					t.Errorf("a message of %d samples, want 1", n)
				}
				keys = append(keys, key)
				return nil
			}, &failed)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, tc.want) {
				t.Errorf("keys %v, want %v", keys, tc.want)
			}
		})
	}
	cfg := Config{Sensors: 3, SensorMajor: true}
	cfg.defaults()
	if err := cfg.Validate(); err == nil {
		t.Error("sensor-major without a count validated")
	}
}
