package shed

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindsMatchWithErrorsIsThroughWrapping(t *testing.T) {
	full := fmt.Errorf("write: %w", Full("err-ingest-sink-full", 2*time.Second, errors.New("buffer")))
	if !errors.Is(full, ErrFull) || errors.Is(full, ErrUnavailable) {
		t.Errorf("full shed: Is(ErrFull)=%v Is(ErrUnavailable)=%v", errors.Is(full, ErrFull), errors.Is(full, ErrUnavailable))
	}
	var e *Error
	if !errors.As(full, &e) || e.Reason != "err-ingest-sink-full" || e.RetryAfter != 2*time.Second {
		t.Errorf("As: %+v", e)
	}
	un := Unavailable("err-ingest-kafka-unavailable", time.Second, nil)
	if !errors.Is(un, ErrUnavailable) || errors.Is(un, ErrFull) {
		t.Error("unavailable shed matches the wrong kind")
	}
}

func TestRetryAfterSecondsRoundsUpToAtLeastOne(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 100 * time.Millisecond: "1", time.Second: "1",
		1500 * time.Millisecond: "2", 30 * time.Second: "30"} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseRetryAfterFallsBackOnAnythingButSeconds(t *testing.T) {
	for v, want := range map[string]time.Duration{"3": 3 * time.Second, "0": 0, "": time.Minute, "-1": time.Minute,
		"Wed, 21 Oct 2026 07:28:00 GMT": time.Minute, "1.5": time.Minute} {
		if got := ParseRetryAfter(v, time.Minute); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
