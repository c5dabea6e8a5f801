package rollup

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWindowStartFloorsToTheLevel(t *testing.T) {
	for _, c := range []struct {
		l    level
		t    int64
		want int64
	}{
		{level1m, 1710072000, 1710072000}, {level1m, 1710072059, 1710072000}, {level1m, 1710072060, 1710072060},
		{level10m, 1710072599, 1710072000}, {level10m, 1710072600, 1710072600},
		{level60m, 1710075599, 1710072000}, {level60m, -1, -3600}, {level1m, -61, -120},
	} {
		if got := c.l.windowStart(c.t); got != c.want {
			t.Errorf("%v.windowStart(%d) = %d, want %d", c.l, c.t, got, c.want)
		}
	}
}

func TestRangesJoinConsecutiveWindowsOfOneTenantUpToTheCap(t *testing.T) {
	k := func(set, tenant string, l level, min int64) windowKey {
		return windowKey{set: set, tenant: tenant, level: l, start: min * levelDefs[l].size}
	}
	keys := []windowKey{
		k("", "b", level1m, 5), k("", "a", level1m, 3), k("", "a", level1m, 1), k("", "a", level1m, 2),
		k("", "a", level1m, 7), k("_shadow", "a", level1m, 4), k("", "b", level1m, 6), k("", "b", level1m, 7),
		k("", "b", level1m, 8), k("", "b", level1m, 9),
	}
	got := ranges(keys, 3)
	want := []window{
		{"", "a", level1m, 60, 240}, {"", "a", level1m, 420, 480},
		{"", "b", level1m, 300, 480}, {"", "b", level1m, 480, 600}, // capped at 3 windows
		{"_shadow", "a", level1m, 240, 300},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ranges = %+v\nwant     %+v", got, want)
	}
	if got := ranges([]windowKey{k("", "a", level10m, 1), k("", "a", level10m, 2)}, 10); len(got) != 1 || got[0].count() != 2 || got[0].to != 1800 {
		t.Errorf("10m ranges = %+v", got)
	}
	if got := ranges(nil, 10); got != nil {
		t.Errorf("ranges(nil) = %+v", got)
	}
}

func mk(set, tenant string, minute, insertedAt int64) marker {
	return marker{set: set, tenant: tenant, window: minute * 60, topic: "t", insertedAt: insertedAt}
}

func TestTrackerReadsEachMarkerOnceAndMovesTheReadStartBehindTheHorizon(t *testing.T) {
	tr := newTracker(30*time.Second, 10*time.Second)
	tr.start("", 0)
	if n := tr.add("", []marker{mk("", "a", 100, 1000), mk("", "a", 101, 1001), mk("", "a", 100, 1000)}, 1010); n != 2 {
		t.Errorf("add = %d new markers, want 2 (one repeated)", n)
	}
	if tr.readFrom[""] != 980 {
		t.Errorf("readFrom = %d, want now - horizon = 980", tr.readFrom[""])
	}
	// Read again (the horizon overlaps): known markers are not new; a late-visible one is.
	if n := tr.add("", []marker{mk("", "a", 100, 1000), mk("", "a", 101, 1001), mk("", "b", 100, 995)}, 1040); n != 1 {
		t.Errorf("second add = %d new markers, want 1", n)
	}
	if tr.readFrom[""] != 1010 || len(tr.seen) != 0 {
		t.Errorf("readFrom = %d, %d seen: want 1010 and the markers before it forgotten", tr.readFrom[""], len(tr.seen))
	}
	// The read start never moves back (a server clock that jumped back).
	tr.add("", nil, 900)
	if tr.readFrom[""] != 1010 {
		t.Errorf("readFrom moved back to %d", tr.readFrom[""])
	}
	if len(tr.dirty) != 3 {
		t.Errorf("dirty = %v, want 3 windows", tr.dirty)
	}
}

func TestTrackerKeepsOpenWindowsPendingAndTheCursorBehindThem(t *testing.T) {
	tr := newTracker(30*time.Second, 10*time.Second)
	tr.start("", 0)
	tr.start("_shadow", 500)
	// Minute 100 (6000..6060) closes at 6070; minute 101 at 6130.
	tr.add("", []marker{mk("", "a", 100, 6001), mk("", "a", 101, 6065)}, 6100)
	now := time.Unix(6100, 0)
	ready := tr.ready(level1m, now, 1440)
	if len(ready) != 1 || ready[0].from != 6000 || ready[0].to != 6060 {
		t.Fatalf("ready at 6100 = %+v, want minute 100 only", ready)
	}
	if n, due, oldest := tr.pending(now); n != 2 || due != time.Unix(6070, 0) || oldest != 6001 {
		t.Errorf("pending = %d, %v, %d; want 2, due 6070, oldest marker 6001", n, due, oldest)
	}
	tr.done(ready[0])
	if c := tr.cursor(""); c != 6001 {
		t.Errorf("cursor = %d, want 6001: the 10m and 60m windows of minute 100 are still dirty", c)
	}
	if c := tr.cursor("_shadow"); c != 500 {
		t.Errorf("shadow cursor = %d, want 500 (untouched)", c)
	}
	// The recomputed minute made its 10m and 60m windows dirty since its marker.
	for _, l := range []level{level10m, level60m} {
		r := tr.ready(l, now, 100)
		if len(r) != 1 || r[0].from != l.windowStart(6000) || r[0].count() != 1 {
			t.Errorf("%v ready = %+v", l, r)
		}
		if at := tr.dirty[windowKey{set: "", tenant: "a", level: l, start: l.windowStart(6000)}]; at != 6001 {
			t.Errorf("%v window dirty since %d, want 6001", l, at)
		}
	}
	for _, l := range []level{level10m, level60m} {
		for _, r := range tr.ready(l, now, 100) {
			tr.done(r)
		}
	}
	if c := tr.cursor(""); c != 6065 {
		t.Errorf("cursor = %d, want 6065: the open minute's marker", c)
	}
	if n, _, _ := tr.pending(now); n != 1 {
		t.Errorf("pending 1m windows = %d, want 1", n)
	}
	if r := tr.ready(level1m, time.Unix(6129, 0), 1440); len(r) != 0 {
		t.Errorf("minute 101 ready at 6129, before it closes: %+v", r)
	}
	if r := tr.ready(level1m, time.Unix(6130, 0), 1440); len(r) != 1 || r[0].from != 6060 {
		t.Errorf("ready at 6130 = %+v, want minute 101", r)
	}
	for l := range numLevels {
		for _, r := range tr.ready(l, time.Unix(6130, 0), 1440) {
			tr.done(r)
		}
	}
	for l := range numLevels {
		for _, r := range tr.ready(l, time.Unix(6130, 0), 1440) {
			tr.done(r)
		}
	}
	if len(tr.dirty) != 0 || tr.cursor("") != 6070 {
		t.Errorf("dirty %v, cursor %d; want none dirty and the cursor at the read start 6070", tr.dirty, tr.cursor(""))
	}
}

func TestDroppableKeepsTheDaysThatEndAfterTheLimit(t *testing.T) {
	limit := time.Date(2024, 3, 10, 6, 0, 0, 0, time.UTC).Unix()
	got := droppable([]string{"20240310", "20240309", "20240308", "tuple()", "2024030", "abcdefgh"}, limit)
	if !slices.Equal(got, []string{"20240308", "20240309"}) {
		t.Errorf("droppable = %v", got)
	}
}

func TestSQLFiltersTheFinalReadOnKeyColumnsOnly(t *testing.T) {
	w := window{set: "_shadow", tenant: "acme", level: level1m, from: 60, to: 180}
	q := recomputeSQL("ingest", w, 42)
	for _, want := range []string{"INSERT INTO `ingest`.metrics_1m_shadow (", "FROM `ingest`.metrics_shadow FINAL\n",
		"WHERE tenant = ? AND time >= toDateTime(60) AND time < toDateTime(180)\n", "toUInt64(42)"} {
		if !strings.Contains(q, want) {
			t.Errorf("1m recompute lacks %q:\n%s", want, q)
		}
	}
	w.level, w.from, w.to = level60m, 0, 7200
	q = recomputeSQL("ingest", w, 43)
	for _, want := range []string{"INSERT INTO `ingest`.metrics_60m_shadow (", "FROM `ingest`.metrics_1m_shadow FINAL\n", "intDiv(toUInt32(window_start), 3600) * 3600",
		"AND points > 0", "sum(points)", "argMax(value_last, last_time_unix_nano)"} {
		if !strings.Contains(q, want) {
			t.Errorf("60m recompute lacks %q:\n%s", want, q)
		}
	}
	if q := tombstoneSQL("ingest", w, 43); !strings.Contains(q, "points > 0 AND version < 43") || !strings.Contains(q, "FROM `ingest`.metrics_60m_shadow FINAL") {
		t.Errorf("tombstones:\n%s", q)
	}
}

func TestConfigValidateNamesEveryBadKey(t *testing.T) {
	err := Config{Database: "a-b", Interval: -1, Delay: -1, Retention: time.Minute, Horizon: time.Millisecond}.Validate()
	for _, key := range []string{"database:", "interval:", "delay:", "retention:", "horizon:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want it to name %s", err, key)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	if d := (Config{}).WithDefaults(); d != DefaultConfig() {
		t.Errorf("WithDefaults = %+v", d)
	}
}
