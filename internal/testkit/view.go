package testkit

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/view"
)

// WaitSamples waits until v holds, for each sensor i (emitter.SensorID(i)),
// exactly the len(ys[i]) samples emitted for it.
func WaitSamples(t testing.TB, v *view.View, ys [][]float64, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		for i := range ys {
			s, ok, err := v.Get(emitter.SensorID(i))
			if err != nil || !ok {
				return fmt.Errorf("sensor %s: ok=%v err=%v", emitter.SensorID(i), ok, err)
			}
			if s.Meta.Samples != uint64(len(ys[i])) {
				return fmt.Errorf("sensor %s: %d samples, want %d", s.ID, s.Meta.Samples, len(ys[i]))
			}
		}
		return nil
	})
}
