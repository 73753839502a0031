package codec

import (
	"math"
	"strconv"
	"time"

	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
)

// DescribeBank lists a bank's models as snapshots and the HTTP API show
// them: θ copied, P left out.
func DescribeBank(b *rls.Bank) []schema.Model {
	if b == nil {
		return nil
	}
	out := make([]schema.Model, len(b.Models))
	for i, m := range b.Models {
		out[i] = schema.Model{
			Name: m.Name, Lambda: m.Lambda, Delta: m.Delta, Theta: append([]float64(nil), m.Theta...),
			MSE: m.MSE, RecentMSE: m.RecentMSE, Samples: m.Samples, PTrace: m.PTrace(),
			Sigma2: known(m.Sigma2), Anomalies: m.Anomalies, Episodes: m.Watch.Episodes, Drifts: m.Drifts,
		}
	}
	return out
}

// DescribeSensor is a group table's value (its envelope m and bank b, nil
// before the first sample) as the HTTP API shows a sensor.
func DescribeSensor(id, group string, m Meta, b *rls.Bank) schema.Sensor {
	return DescribeSensorLags(id, group, m, Lags{}, b)
}

// DescribeSensorLags is DescribeSensor of a sensor with lags l: an
// autoregressive one gets its feature names.
func DescribeSensorLags(id, group string, m Meta, l Lags, b *rls.Bank) schema.Sensor {
	out := schema.Sensor{
		Sensor: id, Group: group, Dim: int(m.Dim), Samples: m.Samples, Rejected: m.Rejected,
		Updated:   time.UnixMilli(m.Updated).UTC().Format(time.RFC3339Nano),
		Partition: m.Partition, Offset: m.Offset, Models: []schema.Model{},
		Features: FeatureNames(int(m.Dim), l),
	}
	if b != nil {
		out.Models = DescribeBank(b)
	}
	return out
}

// known is a pointer to v, or nil (JSON null) for a v that is not a
// positive finite number: σ̂² while unknown.
func known(v float64) *float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// FeatureNames names the dim features of a sensor with lags l: nil for one
// that is not autoregressive; else x[0], …, x[k-1], y[t-1], …, y[t-P], 1.
func FeatureNames(dim int, l Lags) []string {
	k := dim - l.Order - 1
	if l.Order == 0 || k < 0 {
		return nil
	}
	names := make([]string, 0, dim)
	for j := range k {
		names = append(names, "x["+strconv.Itoa(j)+"]")
	}
	for j := 1; j <= l.Order; j++ {
		names = append(names, "y[t-"+strconv.Itoa(j)+"]")
	}
	return append(names, "1")
}
