package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/streamrls/streamrls/client"
)

// Example prints every sensor's models, then a prediction and the latest
// events of the first sensor, from a serve on 127.0.0.1:8080 whose token
// (if any) is in STREAMRLS_HTTP_TOKEN.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &client.Client{BaseURL: "http://127.0.0.1:8080", Token: os.Getenv("STREAMRLS_HTTP_TOKEN")}
	if err := report(ctx, c, os.Stdout); err != nil {
		log.Print(err)
	}
}

// report writes what Example prints to w.
func report(ctx context.Context, c *client.Client, w io.Writer) error {
	ids, err := c.Sensors(ctx) // every sensor ID, all pages
	if err != nil {
		return fmt.Errorf("listing sensors: %w", err)
	}
	if len(ids) == 0 {
		return errors.New("no sensors yet")
	}
	for _, id := range ids {
		s, err := c.Sensor(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			continue // gone since the list
		}
		if err != nil {
			return fmt.Errorf("sensor %s: %w", id, err)
		}
		for _, m := range s.Models {
			fmt.Fprintf(w, "sensor %s %s: %d samples, MSE %.3g, θ %.3g\n", id, m.Name, m.Samples, m.MSE, m.Theta)
		}
	}

	first, err := c.Sensor(ctx, ids[0])
	if err != nil {
		return fmt.Errorf("sensor %s: %w", ids[0], err)
	}
	x := make([]float64, first.Dim)
	for i := range x {
		x[i] = 0.5
	}
	p, err := c.Predict(ctx, ids[0], x)
	if err != nil {
		return fmt.Errorf("predict %s: %w", ids[0], err)
	}
	for _, m := range p.Predictions {
		if m.Lo == nil { // σ̂² not known yet: no interval
			fmt.Fprintf(w, "predict %s %s: y %.3g\n", ids[0], m.Model, m.Y)
			continue
		}
		fmt.Fprintf(w, "predict %s %s: y %.3g in [%.3g, %.3g] at %g\n", ids[0], m.Model, m.Y, *m.Lo, *m.Hi, p.Level)
	}

	evs, err := c.Events(ctx, ids[0], 5) // newest first
	if err != nil {
		return fmt.Errorf("events %s: %w", ids[0], err)
	}
	for _, e := range evs.Events {
		fmt.Fprintf(w, "event %s %s %s at sample %d, %s\n", ids[0], e.Model, e.Kind, e.Samples, e.Time)
	}
	return nil
}
