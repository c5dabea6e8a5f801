package normalizer

import (
	"strings"
	"testing"
)

func TestNDJSONRejectionListIsCappedAndCountsTheRest(t *testing.T) {
	f := func(name string, cfg Config, bad, wantListed int) {
		t.Helper()
		ts := newTestServer(t, cfg)
		body := goodLine + "\n" + strings.Repeat("{not json\n", bad) + goodLine + "\n"
		w := ts.do(t, ndjsonReq(body))
		if w.Code != 200 {
			t.Fatalf("%s: status %d: %.200s", name, w.Code, w.Body)
		}
		res := decodeResult(t, w)
		if res.Accepted != 2 || res.Rejected != bad || len(res.Errors) != wantListed || res.ErrorsOmitted != bad-wantListed {
			t.Fatalf("%s: accepted %d, rejected %d, %d errors listed, %d omitted; want 2, %d, %d, %d",
				name, res.Accepted, res.Rejected, len(res.Errors), res.ErrorsOmitted, bad, wantListed, bad-wantListed)
		}
		for i, r := range res.Errors { // the first ones, in order
			if r.Line != i+2 || r.Reason != ReasonInvalidJSON {
				t.Fatalf("%s: errors[%d] = %+v, want line %d %s", name, i, r, i+2, ReasonInvalidJSON)
			}
		}
		if omitted := strings.Contains(w.Body.String(), `"errors_omitted"`); omitted != (bad > wantListed) {
			t.Errorf("%s: errors_omitted present %v, want %v", name, omitted, bad > wantListed)
		}
	}
	f("below the cap", Config{MaxRejectionsInResponse: 5}, 4, 4)
	f("at the cap", Config{MaxRejectionsInResponse: 5}, 5, 5)
	f("above the cap", Config{MaxRejectionsInResponse: 5}, 12, 5)
	f("default cap of 1000", Config{}, 99_998, 1_000) // with the 2 good lines: max_events_per_request
}

func TestMaxRejectionsInResponseDefaultsAndValidates(t *testing.T) {
	if got := (Config{}).withDefaults().MaxRejectionsInResponse; got != 1_000 {
		t.Errorf("default max_rejections_in_response %d, want 1000", got)
	}
	err := Config{MaxRejectionsInResponse: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_rejections_in_response") {
		t.Errorf("Validate of -1: %v, want an error naming max_rejections_in_response", err)
	}
}
