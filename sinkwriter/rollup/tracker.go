package rollup

import (
	"slices"
	"strings"
	"time"
)

// level is a roll-up level: 1m, 10m or 60m.
type level int

const (
	level1m level = iota
	level10m
	level60m
	numLevels
)

// levelDef is what a level is: its label, window size in seconds and table prefix.
var levelDefs = [numLevels]struct {
	name  string
	size  int64
	table string
}{
	{"1m", 60, "metrics_1m"},
	{"10m", 600, "metrics_10m"},
	{"60m", 3600, "metrics_60m"},
}

func (l level) String() string { return levelDefs[l].name }

// windowStart returns the start of the level's window that holds t (unix seconds, UTC).
func (l level) windowStart(t int64) int64 {
	s := levelDefs[l].size
	return t - ((t%s)+s)%s // floor, also before 1970
}

// windowKey is one roll-up window of one tenant in one table set.
type windowKey struct {
	set    string
	tenant string
	level  level
	start  int64 // unix seconds, a multiple of the level's size
}

// marker is one row of metrics_windows{set}: an insert (or Mark) touched tenant's minute.
// Markers are compared whole: two rows with the same values are one marker (processing it
// twice would only recompute the same window twice).
type marker struct {
	set        string
	tenant     string
	window     int64 // the minute, unix seconds
	topic      string
	partition  int32
	maxOffset  int64
	rows       uint64
	insertedAt int64 // unix seconds, server time
}

// window is a range of consecutive windows of one level, tenant and table set: [from, to).
type window struct {
	set    string
	tenant string
	level  level
	from   int64 // unix seconds
	to     int64
}

// count returns how many windows of its level the range holds.
func (w window) count() int64 { return (w.to - w.from) / levelDefs[w.level].size }

// tracker is the worker's bookkeeping, without ClickHouse: which markers it has seen, which
// windows are dirty (and since which marker), where the next marker read starts per table
// set, and the cursor to persist. It is owned by the worker's goroutine (no lock).
type tracker struct {
	horizon  int64         // seconds a marker may become visible after its inserted_at
	delay    time.Duration // a minute is closed delay after its end
	readFrom map[string]int64
	seen     map[marker]struct{}
	dirty    map[windowKey]int64 // → earliest inserted_at of the markers behind it
}

func newTracker(horizon, delay time.Duration) *tracker {
	return &tracker{
		horizon:  int64((horizon + time.Second - 1) / time.Second),
		delay:    delay,
		readFrom: map[string]int64{},
		seen:     map[marker]struct{}{},
		dirty:    map[windowKey]int64{},
	}
}

// start sets where set's first read begins: the persisted cursor (0: every marker).
func (t *tracker) start(set string, cursor int64) { t.readFrom[set] = cursor }

// loaded reports whether set's cursor was set.
func (t *tracker) loaded(set string) bool {
	_, ok := t.readFrom[set]
	return ok
}

// add takes the markers of set read at server time now from t.readFrom[set] on: each marker
// not seen before makes its minute dirty. Every marker inserted before now - horizon is
// visible by now, so the next read starts there; seen markers below it are forgotten (they are
// never read again). It returns how many markers were new.
func (t *tracker) add(set string, ms []marker, now int64) int {
	n := 0
	for _, m := range ms {
		if _, ok := t.seen[m]; ok {
			continue
		}
		t.seen[m] = struct{}{}
		n++
		t.markDirty(windowKey{set: set, tenant: m.tenant, level: level1m, start: level1m.windowStart(m.window)}, m.insertedAt)
	}
	if next := now - t.horizon; next > t.readFrom[set] {
		t.readFrom[set] = next
	}
	for m := range t.seen {
		if m.set == set && m.insertedAt < t.readFrom[set] {
			delete(t.seen, m)
		}
	}
	return n
}

func (t *tracker) markDirty(k windowKey, insertedAt int64) {
	if cur, ok := t.dirty[k]; !ok || insertedAt < cur {
		t.dirty[k] = insertedAt
	}
}

// due returns when a 1m window is closed: delay after its end.
func (t *tracker) due(start int64) time.Time {
	return time.Unix(start+levelDefs[level1m].size, 0).Add(t.delay)
}

// ready returns the dirty windows of level l to recompute at now, as ranges of consecutive
// windows of at most maxWindows each, sorted by table set, tenant and start. A 1m window is
// ready once closed; a 10m or 60m window is dirty only after one of its minutes was
// recomputed, and is ready at once.
func (t *tracker) ready(l level, now time.Time, maxWindows int64) []window {
	var keys []windowKey
	for k := range t.dirty {
		if k.level == l && (l != level1m || !t.due(k.start).After(now)) {
			keys = append(keys, k)
		}
	}
	return ranges(keys, maxWindows)
}

// ranges groups keys (all of one level) into ranges of consecutive windows of one table set
// and tenant, at most maxWindows long.
func ranges(keys []windowKey, maxWindows int64) []window {
	slices.SortFunc(keys, func(a, b windowKey) int {
		if c := strings.Compare(a.set, b.set); c != 0 {
			return c
		}
		if c := strings.Compare(a.tenant, b.tenant); c != 0 {
			return c
		}
		if c := int(a.level) - int(b.level); c != 0 {
			return c
		}
		return compareInt(a.start, b.start)
	})
	var out []window
	for _, k := range keys {
		size := levelDefs[k.level].size
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.set == k.set && last.tenant == k.tenant && last.level == k.level && last.to == k.start && last.count() < maxWindows {
				last.to += size
				continue
			}
		}
		out = append(out, window{set: k.set, tenant: k.tenant, level: k.level, from: k.start, to: k.start + size})
	}
	return out
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// done records that the windows of w were recomputed: they are clean, and a recomputed 1m
// range makes its enclosing 10m and 60m windows dirty (since the earliest marker behind it).
func (t *tracker) done(w window) {
	size := levelDefs[w.level].size
	earliest := int64(-1)
	for s := w.from; s < w.to; s += size {
		k := windowKey{set: w.set, tenant: w.tenant, level: w.level, start: s}
		if at, ok := t.dirty[k]; ok {
			if earliest < 0 || at < earliest {
				earliest = at
			}
			delete(t.dirty, k)
		}
	}
	if w.level != level1m || earliest < 0 {
		return
	}
	for _, l := range []level{level10m, level60m} {
		for s := l.windowStart(w.from); s < w.to; s += levelDefs[l].size {
			t.markDirty(windowKey{set: w.set, tenant: w.tenant, level: l, start: s}, earliest)
		}
	}
}

// cursor returns what to persist for set: the earliest inserted_at from which a restarted
// worker must read again to miss nothing: the next read's start, or the earliest marker
// behind a window still dirty (open, or its recompute failed), whichever is first.
func (t *tracker) cursor(set string) int64 {
	c := t.readFrom[set]
	for k, at := range t.dirty {
		if k.set == set && at < c {
			c = at
		}
	}
	return c
}

// pending returns the number of dirty 1m windows and, of those already due at now, the
// earliest due time (zero when none is due).
func (t *tracker) pending(now time.Time) (n int, oldestDue time.Time, oldestMarker int64) {
	oldestMarker = -1
	for k, at := range t.dirty {
		if k.level != level1m {
			continue
		}
		n++
		if oldestMarker < 0 || at < oldestMarker {
			oldestMarker = at
		}
		if d := t.due(k.start); !d.After(now) && (oldestDue.IsZero() || d.Before(oldestDue)) {
			oldestDue = d
		}
	}
	return n, oldestDue, oldestMarker
}
