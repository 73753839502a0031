package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/topology"
)

// Truth knows θ*, the true coefficients behind a sensor's samples: the
// emitter's (emitter.Truth, in `run`), or one vector for every sensor
// (ConstTruth, `serve --theta-star`).
type Truth interface {
	// ThetaStar returns θ* of a sensor after each of ns samples
	// (ascending): the θ* its ns[i]-th sample was drawn with. nil: unknown.
	ThetaStar(sensor string, ns []uint64) [][]float64
}

// ConstTruth is one θ* for every sensor of its dimension.
type ConstTruth []float64

// ThetaStar returns t for every n.
func (t ConstTruth) ThetaStar(_ string, ns []uint64) [][]float64 {
	out := make([][]float64, len(ns))
	for i := range out {
		out[i] = t
	}
	return out
}

// thetaStar asks truth (which may be nil) for θ* of a sensor of dimension
// dim, nil when unknown or of another dimension.
func thetaStar(truth Truth, sensor string, dim int, ns []uint64) [][]float64 {
	if truth == nil || len(ns) == 0 {
		return nil
	}
	out := truth.ThetaStar(sensor, ns)
	if len(out) != len(ns) {
		return nil
	}
	for _, th := range out {
		if len(th) != dim {
			return nil
		}
	}
	return out
}

// HistoryConfig describes the history of one group.
type HistoryConfig struct {
	Group string
	Topic string // default topology.Names{Group: Group}.WithDefaults().Snapshots
	Kafka topology.Kafka
	// Points kept per sensor (default history.DefaultPoints); older points
	// are thinned out by halving, so the whole curve stays visible.
	Points int
	Log    *slog.Logger
}

// History follows a group's snapshots topic from its oldest message with a
// plain sarama consumer of every partition (goka views read tables, not
// streams) and keeps each sensor's learning curve in a history.Store.
type History struct {
	cfg     HistoryConfig
	store   *history.Store
	log     *slog.Logger
	msgs    atomic.Int64
	badMsgs atomic.Int64
}

// NewHistory returns a history; Run fills it.
func NewHistory(cfg HistoryConfig) (*History, error) {
	if cfg.Group == "" {
		return nil, errors.New("history: empty group (--group)")
	}
	if cfg.Topic == "" {
		cfg.Topic = topology.Names{Group: cfg.Group}.WithDefaults().Snapshots
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	return &History{cfg: cfg, store: history.NewStore(cfg.Points), log: cfg.Log.With("group", cfg.Group, "topic", cfg.Topic)}, nil
}

// Group is the group whose snapshots this history follows.
func (h *History) Group() string { return h.cfg.Group }

// Store is the history's store.
func (h *History) Store() *history.Store { return h.store }

// Messages is the number of snapshot messages read so far.
func (h *History) Messages() int64 { return h.msgs.Load() }

// Run reads the snapshots topic until ctx ends, waiting for the topic to be
// created and reconnecting after errors, each partition from where it was.
func (h *History) Run(ctx context.Context) error {
	next := map[int32]int64{}
	backoff := 250 * time.Millisecond
	for {
		err := h.consume(ctx, next)
		if ctx.Err() != nil {
			return nil
		}
		h.log.Debug("snapshots consumer stopped; retrying", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *History) consume(ctx context.Context, next map[int32]int64) error {
	cfg, err := h.cfg.Kafka.Sarama()
	if err != nil {
		return err
	}
	cfg.ClientID = "streamrls-history"
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(h.cfg.Kafka.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(h.cfg.Topic)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("snapshots %s: no partitions", h.cfg.Topic)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopped := make(chan error, len(parts))
	for _, p := range parts {
		off, ok := next[p]
		if !ok {
			off = sarama.OffsetOldest
		}
		pc, err := consumer.ConsumePartition(h.cfg.Topic, p, off)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("snapshots %s partition %d offset %d: %w", h.cfg.Topic, p, off, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case err, ok := <-pc.Errors():
					if ok {
						stopped <- fmt.Errorf("snapshots %s partition %d: %w", h.cfg.Topic, p, err)
					}
					return
				case m, ok := <-pc.Messages():
					if !ok {
						stopped <- fmt.Errorf("snapshots %s partition %d: consumer closed", h.cfg.Topic, p)
						return
					}
					h.add(m)
					mu.Lock()
					next[p] = m.Offset + 1
					mu.Unlock()
				}
			}
		}()
	}
	h.log.Debug("following snapshots", "partitions", len(parts))
	select {
	case <-ctx.Done():
		err = nil
	case err = <-stopped:
	}
	cancel()
	wg.Wait()
	return err
}

func (h *History) add(m *sarama.ConsumerMessage) {
	h.msgs.Add(1)
	s, err := history.Decode(m.Key, m.Value)
	if err != nil {
		if h.badMsgs.Add(1) <= 10 {
			h.log.Warn("skipping a snapshot that does not parse", "partition", m.Partition, "offset", m.Offset, "err", err)
		}
		return
	}
	h.store.Add(s)
}

// HistoryJSON is a sensor's learning history, one column per figure so
// that numpy takes each as it is: np.array(h["models"][0]["theta"]) is a
// points × dim matrix whose rows go with h["samples"].
type HistoryJSON struct {
	Sensor    string             `json:"sensor"`
	Group     string             `json:"group"`
	Dim       int                `json:"dim"`
	Samples   []uint64           `json:"samples"`              // samples applied at each point
	Updated   []int64            `json:"updated_ms"`           // unix ms of each point
	Rejected  []uint64           `json:"rejected"`             // samples rejected at each point
	ThetaStar [][]float64        `json:"theta_star,omitempty"` // θ* at each point, when known
	Models    []ModelHistoryJSON `json:"models"`
}

// ModelHistoryJSON is one model's columns of a history.
type ModelHistoryJSON struct {
	Name      string      `json:"name"`
	Lambda    float64     `json:"lambda"`
	Delta     float64     `json:"delta"`
	Theta     [][]float64 `json:"theta"` // θ at each point
	MSE       []float64   `json:"mse"`
	RecentMSE []float64   `json:"recent_mse"`
	PTrace    []float64   `json:"p_trace"`
}

// HistoryOf renders a sensor's points. Only points with the models of the
// newest one (same names, same dimension) are kept: should a processor have
// been restarted with other --model flags, the curves show the current
// models. ok is false for a sensor without history.
func HistoryOf(group, sensor string, points []history.Snapshot, truth Truth) (HistoryJSON, bool) {
	out := HistoryJSON{Sensor: sensor, Group: group, Samples: []uint64{}, Updated: []int64{}, Rejected: []uint64{}, Models: []ModelHistoryJSON{}}
	if len(points) == 0 {
		return out, false
	}
	latest := points[len(points)-1]
	out.Dim = latest.Dim
	for _, m := range latest.Models {
		out.Models = append(out.Models, ModelHistoryJSON{Name: m.Name, Lambda: m.Lambda, Delta: m.Delta,
			Theta: [][]float64{}, MSE: []float64{}, RecentMSE: []float64{}, PTrace: []float64{}})
	}
	for _, p := range points {
		if !sameModels(p, latest) {
			continue
		}
		out.Samples = append(out.Samples, p.Samples)
		out.Updated = append(out.Updated, p.UpdatedMs)
		out.Rejected = append(out.Rejected, p.Rejected)
		for i, m := range p.Models {
			mh := &out.Models[i]
			mh.Theta = append(mh.Theta, m.Theta)
			mh.MSE = append(mh.MSE, finiteOr0(m.MSE))
			mh.RecentMSE = append(mh.RecentMSE, finiteOr0(m.RecentMSE))
			mh.PTrace = append(mh.PTrace, finiteOr0(m.PTrace))
		}
	}
	out.ThetaStar = thetaStar(truth, sensor, out.Dim, out.Samples)
	return out, true
}

func sameModels(a, b history.Snapshot) bool {
	if a.Dim != b.Dim || len(a.Models) != len(b.Models) {
		return false
	}
	for i := range a.Models {
		if a.Models[i].Name != b.Models[i].Name || len(a.Models[i].Theta) != b.Dim {
			return false
		}
	}
	return true
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// historyOf finds the history of v's group.
func (s *Server) historyOf(v *View) *History {
	for _, h := range s.Histories {
		if h.Group() == v.Group() {
			return h
		}
	}
	return nil
}

func (s *Server) sensorHistory(w http.ResponseWriter, r *http.Request, v *View) (HistoryJSON, bool) {
	id := r.PathValue("id")
	h := s.historyOf(v)
	if h == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no history is kept for group %q (serve follows GROUP-snapshots)", v.Group()))
		return HistoryJSON{}, false
	}
	out, ok := HistoryOf(v.Group(), id, h.Store().Points(id), s.Truth)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no snapshots of sensor %q in group %q yet (processors publish them with --snapshot-every/--snapshot-interval)", id, v.Group()))
		return out, false
	}
	return out, true
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, v *View) {
	if out, ok := s.sensorHistory(w, r, v); ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// History returns a sensor's learning history (GET /v1/sensors/{id}/history).
func (c *Client) History(ctx context.Context, id string) (*HistoryJSON, error) {
	var out HistoryJSON
	if err := c.do(ctx, http.MethodGet, c.path("sensors", url.PathEscape(id), "history"), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
