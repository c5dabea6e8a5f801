package config

import (
	"testing"
	"time"
)

func TestDefaultReplacesOnlyZero(t *testing.T) {
	a, b := 0, 5
	Default(&a, 7)
	Default(&b, 7)
	var d time.Duration
	Default(&d, time.Second)
	s := "set"
	Default(&s, "default")
	if a != 7 || b != 5 || d != time.Second || s != "set" {
		t.Errorf("got %d %d %s %q", a, b, d, s)
	}
}
