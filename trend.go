package tgsync

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TrendPoint is a binding's counts as a run left them: what its answer
// asks for, what the group holds (draining targets excluded) and how many
// of those are healthy.
type TrendPoint struct {
	At                           time.Time
	Desired, Registered, Healthy int
	// Answer marks a run whose source answered a new set of addresses.
	Answer bool
}

func (p TrendPoint) sameCounts(o TrendPoint) bool {
	return p.Desired == o.Desired && p.Registered == o.Registered && p.Healthy == o.Healthy
}

// Trend is a binding's counts over the last TrendRetention, for the
// status page's chart: a point is added only when the counts change or the
// answer does, so that a steady run writes nothing, and old points are
// dropped only when one is added. It is stored as one short string (10 to
// 17 bytes a point) rather than as JSON objects, because a state holds one
// per binding and must stay under MaxStateBytes for about a thousand
// bindings: TrendLimit points take at most about 1.7 KB (TestTrendSize), and
// a state of more than 180 bindings keeps fewer (TrendShare).
type Trend []TrendPoint

// Bounds of a Trend: points older than TrendRetention are dropped (but
// the newest of them, which gives the counts at the start of the window),
// then the oldest beyond TrendLimit.
const (
	TrendRetention = 12 * time.Hour
	TrendLimit     = 96
)

// Add appends p when its counts differ from the last point's or it marks
// an answer change, and then applies the bounds. It reports whether it
// added the point. A clock that stepped back drops the points after p:
// they were stamped by a clock that was ahead, and the trend stays in
// time order, as its stored form needs.
func (tr *Trend) Add(p TrendPoint) bool {
	p.At = p.At.Truncate(time.Second).UTC()
	if n := len(*tr); n > 0 && (*tr)[n-1].sameCounts(p) && !p.Answer && !(*tr)[n-1].At.After(p.At) {
		return false
	}
	kept := *tr
	for len(kept) > 0 && kept[len(kept)-1].At.After(p.At) {
		kept = kept[:len(kept)-1]
	}
	// Keep the newest point at or before the window's start.
	cut := 0
	for i, q := range kept {
		if !q.At.After(p.At.Add(-TrendRetention)) {
			cut = i
		}
	}
	kept = kept[cut:]
	kept = kept[max(0, len(kept)+1-TrendLimit):]
	// One new slice, sized to fit: the dropped points go with the old one.
	*tr = append(append(make(Trend, 0, len(kept)+1), kept...), p)
	return true
}

// MarshalText writes the points as "UNIX:D/R/H" for the first and
// "+SECONDS:D/R/H" for each next one, seconds after the one before, with a
// "!" after a point that marks an answer change, separated by spaces.
func (tr Trend) MarshalText() ([]byte, error) {
	var b strings.Builder
	var prev time.Time
	for i, p := range tr {
		if i > 0 {
			// Never a negative step, which would not read back: a point
			// out of order (Add keeps none) is written at its predecessor's
			// time.
			b.WriteByte(' ')
			b.WriteByte('+')
			b.WriteString(strconv.FormatInt(int64(max(0, p.At.Sub(prev))/time.Second), 10))
			p.At = later(p.At, prev)
		} else {
			b.WriteString(strconv.FormatInt(p.At.Unix(), 10))
		}
		prev = p.At
		fmt.Fprintf(&b, ":%d/%d/%d", p.Desired, p.Registered, p.Healthy)
		if p.Answer {
			b.WriteByte('!')
		}
	}
	return []byte(b.String()), nil
}

// UnmarshalText reads what MarshalText writes; anything else is an error
// that names the point. It allocates the points and nothing else: a
// state holds a trend per binding.
func (tr *Trend) UnmarshalText(text []byte) error {
	out := make(Trend, 0, bytes.Count(text, []byte{' '})+1)
	var prev time.Time
	for i, rest := 0, bytes.TrimSpace(text); len(rest) > 0; i++ {
		field := rest
		if k := bytes.IndexByte(rest, ' '); k >= 0 {
			field, rest = rest[:k], bytes.TrimLeft(rest[k:], " ")
		} else {
			rest = nil
		}
		p, err := parseTrendPoint(field, i, prev)
		if err != nil {
			return fmt.Errorf("trend point %d %q: %w", i+1, clipText(string(field), 40), err)
		}
		out = append(out, p)
		prev = p.At
	}
	if len(out) == 0 {
		out = nil
	}
	*tr = out
	return nil
}

// parseTrendPoint reads "TIME:D/R/H" with an optional "!"; TIME is
// "+SECONDS" after prev for every point but the first.
func parseTrendPoint(field []byte, i int, prev time.Time) (TrendPoint, error) {
	var p TrendPoint
	if n := len(field); n > 0 && field[n-1] == '!' {
		field, p.Answer = field[:n-1], true
	}
	rel := len(field) > 0 && field[0] == '+'
	if rel != (i > 0) {
		return p, fmt.Errorf("want an absolute time first and +SECONDS after it")
	}
	if rel {
		field = field[1:]
	}
	var vals [4]int64
	for j := range vals {
		sep := byte('/')
		switch j {
		case 0:
			sep = ':'
		case 3:
			sep = 0
		}
		k := len(field)
		if sep != 0 {
			if k = bytes.IndexByte(field, sep); k < 0 {
				return p, fmt.Errorf("want TIME:DESIRED/REGISTERED/HEALTHY")
			}
		}
		v, ok := digits(field[:k])
		if !ok {
			return p, fmt.Errorf("%q: want a number", field[:k])
		}
		vals[j] = v
		if sep != 0 {
			field = field[k+1:]
		}
	}
	if rel {
		p.At = prev.Add(time.Duration(vals[0]) * time.Second)
	} else {
		p.At = time.Unix(vals[0], 0).UTC()
	}
	p.Desired, p.Registered, p.Healthy = int(vals[1]), int(vals[2]), int(vals[3])
	return p, nil
}

// digits reads a non-negative decimal number of at most 12 digits.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// trendPoint is the point of a binding's run: its counts once the run's
// changes are applied, the whole group's as the metrics count them.
func trendPoint(res BindingResult, answerChanged bool, now time.Time) TrendPoint {
	p := TrendPoint{At: now, Desired: len(res.Plan.Desired), Answer: answerChanged}
	for _, o := range ObservationAfter(res.Observed, res.Registered, res.Deregistered) {
		if o.State.Draining() {
			continue
		}
		p.Registered++
		if o.State == HealthHealthy {
			p.Healthy++
		}
	}
	return p
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
