package chmutation

import (
	"slices"
	"testing"
)

func TestPendingListsOnlyNewUnfinishedMutationsInTableOrder(t *testing.T) {
	before := Known{"logs": {"m1": false}}
	now := Known{
		"logs":    {"m1": false, "m2": true}, // m1 is old, m2 done
		"metrics": {"m3": false},             // new and running
		"spans":   {"m4": false},             // not one of the tables
	}
	if got := Pending(before, now, []string{"metrics", "logs"}); !slices.Equal(got, []string{"metrics"}) {
		t.Errorf("Pending = %v, want [metrics]", got)
	}
	now["logs"]["m5"] = false
	if got := Pending(before, now, []string{"logs", "metrics"}); !slices.Equal(got, []string{"logs", "metrics"}) {
		t.Errorf("Pending = %v, want [logs metrics]", got)
	}
}
