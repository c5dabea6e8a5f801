package loader

import "testing"

func TestRetryBackoffIsJitteredBetweenRetryMinAndAGrowingCap(t *testing.T) {
	cfg := DefaultConfig()
	for attempt := range 40 {
		hi := cfg.RetryMax
		if attempt < 30 {
			hi = min(cfg.RetryMax, cfg.RetryMin<<attempt)
		}
		for range 50 {
			d := retryPolicy(cfg).Delay(attempt)
			if d < cfg.RetryMin || d > max(hi, cfg.RetryMin) {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, cfg.RetryMin, hi)
			}
		}
	}
	if retryPolicy(cfg).Delay(-1) != cfg.RetryMin {
		t.Error("backoff of a negative attempt is not RetryMin")
	}
}
