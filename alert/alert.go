// Package alert sends a group's anomaly episodes and drift detections to
// Alertmanager (its API v2) and to a webhook signed with HMAC-SHA256.
//
// An anomaly episode is posted firing when it opens (startsAt: the
// sample's time) and again resolved when it ends (endsAt: the ending
// sample's time): Alertmanager never notifies an alert that arrives
// already resolved. A drift is a point in time with no end event, so its
// alert ends DriftDuration after its sample. Replicas that post the same
// event post the same labels and startsAt, which Alertmanager merges into
// one alert.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamrls/streamrls/schema"
)

// Alert names.
const (
	NameAnomaly = "StreamrlsAnomaly"
	NameDrift   = "StreamrlsDrift"
)

// SignatureHeader carries a webhook body's signature: "sha256=" and the hex
// HMAC-SHA256 of the body under the webhook's secret.
const SignatureHeader = "X-Streamrls-Signature"

// Defaults.
const (
	// DriftDuration is how long a drift alert fires: long enough for a
	// notification to go out after Alertmanager's group waits, short enough
	// that it clears by itself once the model has adapted (a detector fires
	// once per change).
	DriftDuration  = time.Hour
	DefaultQueue   = 10_000
	DefaultRetries = 8
	// DefaultResend re-posts the alerts of open episodes to Alertmanager,
	// so that its resolve_timeout does not end a long episode.
	DefaultResend = time.Minute
	maxBatch      = 64
	maxOpen       = 100_000
)

// Alert is an alert as Alertmanager's API v2 takes it; the webhook gets a
// JSON array of these too.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Config describes where alerts go.
type Config struct {
	// Alertmanager is the base URL of an Alertmanager; alerts are posted to
	// its /api/v2/alerts. Empty: none.
	Alertmanager string
	// Webhook is a URL that gets the alerts as a JSON array, signed with
	// WebhookSecret (SignatureHeader). Empty: none.
	Webhook string
	// WebhookSecret is the key of the webhook's HMAC. Required with Webhook.
	WebhookSecret []byte
	// Labels are added to every alert's.
	Labels map[string]string
	// ExternalURL is the base URL of the HTTP API, for the link to the
	// sensor's page. Empty: no link.
	ExternalURL string
	// Queue bounds the alerts waiting per receiver; more are dropped.
	// Default DefaultQueue.
	Queue int
	// Retries is how often a failed post is retried, with backoff. Default
	// DefaultRetries.
	Retries int
	// Backoff is the first wait before a retry, doubled each time. Default
	// 200ms.
	Backoff time.Duration
	// Resend is how often the alerts of open episodes are posted to
	// Alertmanager again. Default DefaultResend.
	Resend time.Duration
	// Client posts. Default: a client with a 10 s timeout.
	Client *http.Client
	// Log receives the logs. Default slog.Default().
	Log *slog.Logger
}

// Enabled says whether any receiver is set.
func (c Config) Enabled() bool { return c.Alertmanager != "" || c.Webhook != "" }

// Sender queues alerts per receiver and posts them.
type Sender struct {
	cfg       Config
	receivers []*Receiver

	mu   sync.Mutex
	open map[string]Alert // firing anomaly alerts by group, sensor, model
}

// Receiver is one destination with its counters.
type Receiver struct {
	Name  string // "alertmanager" or "webhook"
	url   string
	key   []byte
	queue chan Alert

	sent, failed, dropped atomic.Uint64
}

// Sent, Failed and Dropped count alerts: posted, given up after retries,
// and dropped because the queue was full.
func (r *Receiver) Sent() uint64    { return r.sent.Load() }
func (r *Receiver) Failed() uint64  { return r.failed.Load() }
func (r *Receiver) Dropped() uint64 { return r.dropped.Load() }

// New checks cfg and returns a sender; Run posts.
func New(cfg Config) (*Sender, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.Resend <= 0 {
		cfg.Resend = DefaultResend
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sender{cfg: cfg, open: map[string]Alert{}}
	if cfg.Alertmanager != "" {
		s.receivers = append(s.receivers, &Receiver{Name: "alertmanager",
			url: strings.TrimSuffix(cfg.Alertmanager, "/") + "/api/v2/alerts", queue: make(chan Alert, cfg.Queue)})
	}
	if cfg.Webhook != "" {
		s.receivers = append(s.receivers, &Receiver{Name: "webhook", url: cfg.Webhook, key: cfg.WebhookSecret,
			queue: make(chan Alert, cfg.Queue)})
	}
	return s, nil
}

// Validate reports the first setting of c that New refuses.
func (c Config) Validate() error {
	if c.Alertmanager != "" {
		if err := checkURL("Alertmanager", c.Alertmanager); err != nil {
			return err
		}
	}
	if c.Webhook != "" {
		if err := checkURL("Webhook", c.Webhook); err != nil {
			return err
		}
		if len(c.WebhookSecret) == 0 {
			return errors.New("alert: Webhook needs a WebhookSecret")
		}
	}
	for k := range c.Labels {
		if k == "" || k == "alertname" || k == "group" || k == "sensor" || k == "model" {
			return fmt.Errorf("alert: Labels: %q is not a label to add", k)
		}
	}
	return nil
}

func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("alert: %s %q: want an http or https URL", field, s)
	}
	return nil
}

// Receivers are the sender's destinations.
func (s *Sender) Receivers() []*Receiver { return s.receivers }

// Sign is the SignatureHeader value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Event queues the alert of a group's event; it never blocks.
func (s *Sender) Event(group string, e schema.Event) {
	a, ok := s.alertOf(group, e)
	if ok {
		s.enqueue(a)
	}
}

func (s *Sender) alertOf(group string, e schema.Event) (Alert, bool) {
	at := e.SampleTime
	if at == "" {
		at = e.Time
	}
	labels := map[string]string{"group": group, "sensor": e.Sensor, "model": e.Model}
	maps.Copy(labels, s.cfg.Labels)
	ann := map[string]string{"sample_time": at, "samples": strconv.FormatUint(e.Samples, 10)}
	a := Alert{Labels: labels, Annotations: ann, StartsAt: at}
	if s.cfg.ExternalURL != "" {
		a.GeneratorURL = strings.TrimSuffix(s.cfg.ExternalURL, "/") + "/sensors/" +
			url.PathEscape(e.Sensor) + "?group=" + url.QueryEscape(group)
		ann["sensor_url"] = a.GeneratorURL
	}
	key := group + "\x00" + e.Sensor + "\x00" + e.Model
	switch e.Kind {
	case schema.EventAnomaly:
		labels["alertname"] = NameAnomaly
		ann["z"], ann["threshold"] = num(e.Z), num(e.Threshold)
		what := "anomaly"
		if e.Test != "" {
			ann["test"] = e.Test
			what = "anomaly (" + e.Test + " test)"
		}
		ann["summary"] = fmt.Sprintf("sensor %s, model %s: %s, z = %s", e.Sensor, e.Model, what, ann["z"])
		s.mu.Lock()
		if _, ok := s.open[key]; ok || len(s.open) < maxOpen {
			s.open[key] = a
		}
		s.mu.Unlock()
	case schema.EventAnomalyEnd:
		labels["alertname"] = NameAnomaly
		s.mu.Lock()
		if o, ok := s.open[key]; ok {
			// A copy: the firing alert may still wait in a queue with its map.
			a.StartsAt, a.Annotations = o.StartsAt, maps.Clone(o.Annotations)
			delete(s.open, key)
		}
		s.mu.Unlock()
		a.Annotations["end_time"] = at
		a.Annotations["count"] = strconv.FormatUint(e.Count, 10)
		a.Annotations["peak"] = num(e.Peak)
		a.EndsAt = at
	case schema.EventDrift:
		labels["alertname"] = NameDrift
		ann["statistic"] = num(e.Statistic)
		ann["summary"] = fmt.Sprintf("sensor %s, model %s: drift, statistic %s", e.Sensor, e.Model, ann["statistic"])
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return a, false
		}
		a.EndsAt = t.Add(DriftDuration).UTC().Format(time.RFC3339Nano)
	default:
		return a, false
	}
	return a, true
}

func num(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'g', 6, 64)
}

func (s *Sender) enqueue(a Alert) {
	for _, r := range s.receivers {
		r.offer(a)
	}
}

// offer queues a for r unless its queue is full: a slow receiver drops
// alerts, it never holds up the caller.
func (r *Receiver) offer(a Alert) {
	select {
	case r.queue <- a:
	default:
		r.dropped.Add(1)
	}
}

// resend queues the alerts of open episodes again for Alertmanager, whose
// resolve_timeout would end them otherwise; a webhook has no such timeout.
func (s *Sender) resend() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.receivers {
		if r.key != nil {
			continue
		}
		for _, a := range s.open {
			r.offer(a)
		}
	}
}

// Run posts queued alerts until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range s.receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.post(ctx, r)
		}()
	}
	t := time.NewTicker(s.cfg.Resend)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			s.resend()
		}
	}
}

// post sends r's queue in batches.
func (s *Sender) post(ctx context.Context, r *Receiver) {
	log := s.cfg.Log.With("receiver", r.Name)
	for {
		var batch []Alert
		select {
		case <-ctx.Done():
			return
		case a := <-r.queue:
			batch = append(batch, a)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case a := <-r.queue:
				batch = append(batch, a)
			default:
				break more
			}
		}
		batch = coalesce(batch)
		body, err := json.Marshal(batch)
		if err == nil {
			err = s.retry(ctx, r, body)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.failed.Add(uint64(len(batch)))
			log.Warn("alerts not sent", "alerts", len(batch), "err", err)
			continue
		}
		r.sent.Add(uint64(len(batch)))
	}
}

func (s *Sender) retry(ctx context.Context, r *Receiver, body []byte) error {
	wait := s.cfg.Backoff
	var err error
	for i := 0; ; i++ {
		var retryable bool
		if retryable, err = s.postOnce(ctx, r, body); err == nil || !retryable || i == s.cfg.Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// postOnce posts body; retryable says a later try may succeed.
func (s *Sender) postOnce(ctx context.Context, r *Receiver, body []byte) (retryable bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.key != nil {
		req.Header.Set(SignatureHeader, Sign(r.key, body))
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return true, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("%s: %s: %s", r.url, resp.Status, bytes.TrimSpace(msg))
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}

// coalesce drops a firing anomaly alert that a later alert of the batch
// resolves (same labels and startsAt): a follower reading retained events
// again posts the episode closed, not opened and closed.
func coalesce(batch []Alert) []Alert {
	type id struct{ labels, start string }
	key := func(a Alert) id {
		b, _ := json.Marshal(a.Labels) // map keys sorted
		return id{string(b), a.StartsAt}
	}
	resolved := map[id]bool{}
	for _, a := range batch {
		if a.EndsAt != "" && a.Labels["alertname"] == NameAnomaly {
			resolved[key(a)] = true
		}
	}
	if len(resolved) == 0 {
		return batch
	}
	out := batch[:0]
	for _, a := range batch {
		if a.EndsAt == "" && resolved[key(a)] {
			continue
		}
		out = append(out, a)
	}
	return out
}
