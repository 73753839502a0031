package plot

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/streamrls/streamrls/schema"
)

// Episode is one anomaly episode of a model on the sample-time axis.
type Episode struct {
	Model string
	// From is the sample time (unix ms) of the event that opened it; To
	// that of the event that closed it, or the newest sample's while it is
	// open.
	From, To int64
	Open     bool
	// NoStart: its opening event is no longer kept, so From is the
	// oldest kept event's sample time.
	NoStart bool
	// Peak is its largest |az|: the end event's, or the opening sample's
	// while it is open (a lower bound then). Count is its anomalous
	// samples, 0 while it is open.
	Peak  float64
	Count uint64
}

// Stamp renders a sample time (unix ms) as UTC, to the millisecond.
func Stamp(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000") }

// Label is the mark's text: peak |az| / anomalous samples.
func (e Episode) Label() string {
	if e.Open {
		return fmt.Sprintf("≥%.3g / open", e.Peak)
	}
	return fmt.Sprintf("%.3g / %d", e.Peak, e.Count)
}

// Episodes pairs a sensor's anomaly and anomaly-end events (newest first,
// as the event store returns them) into episodes, oldest first. Open ones
// reach newest, the newest sample's time (unix ms). Events without a
// sample time (written before events carried one) cannot be placed on the
// axis and are left out.
func Episodes(evs []schema.Event, newest int64) []Episode {
	oldest := int64(0)
	for _, e := range evs {
		if e.SampleTS != 0 && (oldest == 0 || e.SampleTS < oldest) {
			oldest = e.SampleTS
		}
	}
	var out []Episode
	open := map[string]int{} // model → index in out of its open episode
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.SampleTS == 0 {
			continue
		}
		switch e.Kind {
		case schema.EventAnomaly:
			peak := math.NaN()
			if e.Z != nil {
				peak = math.Abs(*e.Z)
			}
			if k, ok := open[e.Model]; ok {
				// Its end is not kept: it ended before this one opened.
				out[k].To = min(out[k].To, e.SampleTS)
			}
			open[e.Model] = len(out)
			out = append(out, Episode{Model: e.Model, From: e.SampleTS, To: max(newest, e.SampleTS), Open: true, Peak: peak})
		case schema.EventAnomalyEnd:
			k, ok := open[e.Model]
			if !ok {
				k = len(out)
				out = append(out, Episode{Model: e.Model, From: oldest, NoStart: true})
			}
			delete(open, e.Model)
			ep := &out[k]
			ep.To, ep.Open, ep.Count, ep.Peak = max(e.SampleTS, ep.From), false, e.Count, math.NaN()
			if e.Peak != nil {
				ep.Peak = *e.Peak
			}
		}
	}
	return out
}

// EpisodesSVG draws episodes on a sample-time axis from the first one's
// start to the last end: one bar each, labelled with Label; nil without
// episodes. Like EventsSVG, a hand-made SVG.
func EpisodesSVG(eps []Episode) template.HTML {
	if len(eps) == 0 {
		return ""
	}
	const w, h, pad = 600.0, 80.0, 30.0
	from, to := eps[0].From, eps[0].To
	for _, e := range eps {
		from, to = min(from, e.From), max(to, e.To)
	}
	span := float64(to - from)
	if span <= 0 {
		span = 1
	}
	xOf := func(ts int64) float64 { return pad + (w-2*pad)*float64(ts-from)/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="episodeplot" width="%g" height="%g" viewBox="0 0 %g %g" font-size="10">`, w, h, w, h)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`, pad, h-22, w-pad, h-22)
	fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text><text x="%g" y="%g" text-anchor="end">%s</text><text x="%g" y="%g" text-anchor="middle">sample time (UTC)</text>`,
		pad, h-6, Stamp(from), w-pad, h-6, Stamp(to), w/2, h-6)
	for i, e := range eps {
		x0, x1 := xOf(e.From), xOf(e.To)
		class, fill, ends := "episode", "#c03030", Stamp(e.To)
		if e.Open {
			class, fill, ends = "episode open", "#e08080", "open, newest sample "+ends
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%g" width="%.2f" height="14" fill="%s"><title>%s episode %s: %s to %s</title></rect>`,
			class, x0, h-38, max(x1-x0, 2), fill, template.HTMLEscapeString(e.Model),
			template.HTMLEscapeString(e.Label()), Stamp(e.From), ends)
		// Alternate rows keep neighbouring labels apart.
		fmt.Fprintf(&b, `<text class="episode-label" x="%.2f" y="%g">%s</text>`, x0, 12+float64(i%2)*14, template.HTMLEscapeString(e.Label()))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped names only
}
