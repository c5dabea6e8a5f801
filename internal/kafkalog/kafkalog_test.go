package kafkalog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkalog"
)

// lines returns the JSON lines logged through a logger made by mk, after franz-go logged one
// line of every level.
func lines(t *testing.T, mk func(*slog.Logger) kgo.Logger) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	l := mk(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, lv := range []kgo.LogLevel{kgo.LogLevelError, kgo.LogLevelWarn, kgo.LogLevelInfo, kgo.LogLevelDebug, kgo.LogLevelNone} {
		// franz-go checks Level() before it calls Log; Log filters too, for callers that do not.
		l.Log(lv, "line "+lv.String(), "broker", "1")
	}
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("cannot parse log line %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

func TestNewPassesOnlyErrors(t *testing.T) {
	l := kafkalog.New(slog.New(slog.DiscardHandler))
	if l.Level() != kgo.LogLevelError {
		t.Errorf("Level() = %s, want ERROR", l.Level())
	}
	got := lines(t, kafkalog.New)
	if len(got) != 1 {
		t.Fatalf("logged %d lines, want only the error: %v", len(got), got)
	}
	if got[0]["level"] != "ERROR" || got[0]["msg"] != "kafka client: line ERROR" || got[0]["broker"] != "1" {
		t.Errorf("logged %v, want the error with its key/value pairs", got[0])
	}
}

func TestNewLevelWarnPassesErrorsAndWarnings(t *testing.T) {
	got := lines(t, func(l *slog.Logger) kgo.Logger { return kafkalog.NewLevel(l, kgo.LogLevelWarn) })
	if len(got) != 2 || got[0]["level"] != "ERROR" || got[1]["level"] != "WARN" {
		t.Errorf("logged %v, want an error and a warning", got)
	}
}

func TestNewLevelNonePassesNothing(t *testing.T) {
	if got := lines(t, func(l *slog.Logger) kgo.Logger { return kafkalog.NewLevel(l, kgo.LogLevelNone) }); len(got) != 0 {
		t.Errorf("logged %v, want nothing", got)
	}
}
