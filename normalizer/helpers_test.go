package normalizer

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordtest"
)

// update rewrites golden files: go test ./normalizer -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testNow is the time of receipt in golden tests; fixtures carry timestamps shortly before it.
var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const testTenant = "acme"

// newTestEmitter returns an emitter for tenant testTenant received at testNow with cfg's limits
// (zero fields take their defaults).
func newTestEmitter(cfg Config) *emitter {
	c := cfg.withDefaults()
	e := &emitter{}
	e.reset(&c, testTenant, testNow)
	return e
}

// decodedRecords returns the records the emitter accepted, decoded, in order.
func decodedRecords(t testing.TB, e *emitter) []record.Record {
	t.Helper()
	var sink recordtest.Sink
	if err := sink.Write(context.Background(), e.batch.Batch()); err != nil {
		t.Fatalf("cannot record the batch: %v", err)
	}
	out, err := sink.Records()
	if err != nil {
		t.Fatalf("cannot decode the batch: %v", err)
	}
	return out
}

// checkGolden compares the records the emitter accepted with testdata/golden/<name>.json.
func checkGolden(t *testing.T, name string, e *emitter) {
	t.Helper()
	got, err := recordtest.JSON(e.batch.Batch().Data)
	if err != nil {
		t.Fatalf("cannot render records: %v", err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("records differ from %s (run with -update after checking the diff):\ngot:\n%s", path, got)
	}
}
