package history

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/sensorid"
	"github.com/streamrls/streamrls/topology"
)

// EventsTopic is the topic of a group's anomaly and drift events.
func EventsTopic(group string) string { return topology.Names{Group: group}.WithDefaults().Events }

// Defaults of the events kept.
const (
	DefaultEventsPerSensor = 100
	DefaultMaxEvents       = 100_000 // a few hundred bytes each: tens of MB at most
)

// DecodeEvent parses an event of the events topic; key is the message
// key. As for snapshots (DecodeSnapshot), an event must name the sensor of its key
// (or the key must be empty), and be of a known kind.
func DecodeEvent(key, value []byte) (schema.Event, error) {
	var e schema.Event
	if err := json.Unmarshal(value, &e); err != nil {
		return e, fmt.Errorf("event of sensor %q: %w", key, err)
	}
	if e.Sensor == "" {
		e.Sensor = string(key)
	}
	switch {
	case len(key) > 0 && e.Sensor != string(key):
		return e, fmt.Errorf("event keyed %q names sensor %q", key, e.Sensor)
	case e.Kind != schema.EventAnomaly && e.Kind != schema.EventAnomalyEnd && e.Kind != schema.EventDrift:
		return e, fmt.Errorf("event of sensor %q: unknown kind %q", e.Sensor, e.Kind)
	}
	if err := sensorid.Check(e.Sensor); err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	return e, nil
}

// EventStore keeps the latest events of each sensor in memory: at most
// perSensor a sensor and maxTotal in all (the sensors with the oldest
// latest event lose theirs first). A repeat of an event kept (same model,
// kind and input message: a processor re-emits after a crash) is dropped.
type EventStore struct {
	perSensor, maxTotal int

	mu      sync.Mutex
	sensors map[string]*list.Element // of *sensorEvents; front: newest
	lru     *list.List
	total   int
	offsets map[int32]int64
}

type sensorEvents struct {
	id     string
	events []storedEvent // oldest first
}

type storedEvent struct {
	schema.Event
	at time.Time // Time parsed; zero if it does not parse
}

// NewEventStore returns an empty store (0: the defaults).
func NewEventStore(perSensor, maxTotal int) *EventStore {
	if perSensor <= 0 {
		perSensor = DefaultEventsPerSensor
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxEvents
	}
	return &EventStore{perSensor: perSensor, maxTotal: max(maxTotal, perSensor),
		sensors: map[string]*list.Element{}, lru: list.New(), offsets: map[int32]int64{}}
}

// PerSensor is how many events a sensor keeps.
func (st *EventStore) PerSensor() int { return st.perSensor }

// Add keeps e; false if it is a repeat.
func (st *EventStore) Add(e schema.Event) bool {
	at, _ := time.Parse(time.RFC3339Nano, e.Time)
	st.mu.Lock()
	defer st.mu.Unlock()
	el, ok := st.sensors[e.Sensor]
	if !ok {
		el = st.lru.PushFront(&sensorEvents{id: e.Sensor})
		st.sensors[e.Sensor] = el
	}
	se := el.Value.(*sensorEvents)
	for _, o := range se.events {
		if o.Partition == e.Partition && o.Offset == e.Offset && o.Model == e.Model && o.Kind == e.Kind {
			return false
		}
	}
	st.lru.MoveToFront(el)
	if len(se.events) == st.perSensor {
		se.events = append(se.events[:0], se.events[1:]...)
		st.total--
	}
	se.events = append(se.events, storedEvent{e, at})
	st.total++
	for st.total > st.maxTotal {
		old := st.lru.Back().Value.(*sensorEvents)
		st.lru.Remove(st.lru.Back())
		delete(st.sensors, old.id)
		st.total -= len(old.events)
	}
	return true
}

// Events returns a sensor's latest events, newest first, at most limit.
func (st *EventStore) Events(sensor string, limit int) []schema.Event {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []schema.Event{}
	el, ok := st.sensors[sensor]
	if !ok {
		return out
	}
	evs := el.Value.(*sensorEvents).events
	for i := len(evs) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, evs[i].Event)
	}
	return out
}

// Recent counts a sensor's events kept that happened at or after since:
// anomaly episodes (the events that open one) and drifts.
// atLeast says the counts may be short: the sensor keeps as many events as
// it can and all of them are that recent, so older ones of the same span
// are gone.
func (st *EventStore) Recent(sensor string, since time.Time) (anomalies, drifts int, atLeast bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	el, ok := st.sensors[sensor]
	if !ok {
		return 0, 0, false
	}
	a := st.recentLocked(el.Value.(*sensorEvents), since)
	return a.Anomalies, a.Drifts, a.AtLeast
}

// Activity is one sensor's counts of Recent.
type Activity struct {
	Sensor            string
	Anomalies, Drifts int
	AtLeast           bool
}

// Active returns the Recent counts of every sensor with an anomaly
// episode or a drift kept at or after since, in no order. Its cost is
// that of the events kept (at most maxTotal), whatever the sensors served.
func (st *EventStore) Active(since time.Time) []Activity {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []Activity
	for el := st.lru.Front(); el != nil; el = el.Next() {
		if a := st.recentLocked(el.Value.(*sensorEvents), since); a.Anomalies > 0 || a.Drifts > 0 {
			out = append(out, a)
		}
	}
	return out
}

func (st *EventStore) recentLocked(se *sensorEvents, since time.Time) Activity {
	a := Activity{Sensor: se.id}
	events := se.events
	a.AtLeast = len(events) == st.perSensor && !events[0].at.Before(since)
	for _, e := range events {
		if e.at.Before(since) {
			continue
		}
		switch e.Kind {
		case schema.EventDrift:
			a.Drifts++
		case schema.EventAnomaly:
			a.Anomalies++
		}
	}
	return a
}

// Len is the number of events kept.
func (st *EventStore) Len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.total
}

// Offsets returns the next offset to read of each partition.
func (st *EventStore) Offsets() map[int32]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return maps.Clone(st.offsets)
}

// Record notes that partition was read up to next.
func (st *EventStore) Record(partition int32, next int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.offsets[partition] = next
}

// Flush does nothing: the store is in memory.
func (st *EventStore) Flush() error { return nil }

// Close does nothing: the store is in memory.
func (st *EventStore) Close() error { return nil }

// EventFollowerConfig describes the follower of one group's events.
type EventFollowerConfig struct {
	// Group whose events are followed. Required.
	Group string
	// Topic of the events. Default EventsTopic(Group).
	Topic string
	// Kafka is the client configuration. Unset fields take their defaults
	// (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// PerSensor is how many events a sensor keeps, the latest. Default
	// DefaultEventsPerSensor.
	PerSensor int
	// MaxEvents bounds the events of all sensors, which are kept in
	// memory. Default DefaultMaxEvents.
	MaxEvents int
	// OnEvent, if set, gets each event the store keeps (not a repeat), in
	// the follower's goroutine: it must not block.
	OnEvent func(schema.Event)
	// Log receives the follower's logs. Default slog.Default().
	Log *slog.Logger
}

// EventFollower follows a group's events topic, as Follower does its
// snapshots, into an EventStore. The store is in memory: each start reads
// the topic from its oldest message.
type EventFollower struct {
	*tail
	store *EventStore
}

// NewEventFollower returns a follower; Run fills its store.
func NewEventFollower(cfg EventFollowerConfig) (*EventFollower, error) {
	if cfg.Group == "" {
		return nil, errors.New("events: no group (EventFollowerConfig.Group)")
	}
	if cfg.Topic == "" {
		cfg.Topic = EventsTopic(cfg.Group)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	st := NewEventStore(cfg.PerSensor, cfg.MaxEvents)
	h := &EventFollower{store: st}
	h.tail = &tail{group: cfg.Group, topic: cfg.Topic, what: "events", kafka: cfg.Kafka.WithDefaults(), sink: st,
		log: cfg.Log.With("group", cfg.Group, "topic", cfg.Topic),
		add: func(key, value []byte) error {
			e, err := DecodeEvent(key, value)
			if err == nil && st.Add(e) && cfg.OnEvent != nil {
				cfg.OnEvent(e)
			}
			return err
		}}
	return h, nil
}

// Store is the follower's store.
func (h *EventFollower) Store() *EventStore { return h.store }
