package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestParseProfileReadsSteadyAndBurst(t *testing.T) {
	for in, want := range map[string]Profile{
		"steady:250":          {Kind: "steady", Base: 250},
		"burst:100:1000:10s":  {Kind: "burst", Base: 100, Peak: 1000, Period: 10 * time.Second, Duty: 0.2},
		"burst:1:2:500ms:0.5": {Kind: "burst", Base: 1, Peak: 2, Period: 500 * time.Millisecond, Duty: 0.5},
	} {
		got, err := ParseProfile(in)
		if err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseProfile(got.String()); err != nil || back != got {
			t.Errorf("ParseProfile(%q.String()) = %+v, %v", in, back, err)
		}
	}
	for _, bad := range []string{"", "steady", "steady:0", "steady:x", "burst:1:2", "burst:1:2:1ms", "burst:1:2:1s:1", "ramp:1"} {
		if _, err := ParseProfile(bad); err == nil {
			t.Errorf("ParseProfile(%q) accepted", bad)
		}
	}
	p, _ := ParseProfile("burst:100:1000:10s")
	if p.RateAt(time.Second) != 1000 || p.RateAt(3*time.Second) != 100 || p.RateAt(11*time.Second) != 1000 {
		t.Errorf("burst rates wrong: %v %v %v", p.RateAt(time.Second), p.RateAt(3*time.Second), p.RateAt(11*time.Second))
	}
}

func TestParseTenantAndTenantsFile(t *testing.T) {
	def := Profile{Kind: "steady", Base: 5}
	tn, err := ParseTenant("acme=sk-123:steady:50", def)
	if err != nil || tn.Name != "acme" || tn.Key != "sk-123" || tn.Profile.Base != 50 {
		t.Errorf("ParseTenant = %+v, %v", tn, err)
	}
	tn, err = ParseTenant("acme=sk-123", def)
	if err != nil || tn.Key != "sk-123" || tn.Profile != def {
		t.Errorf("ParseTenant without profile = %+v, %v", tn, err)
	}
	if _, err := ParseTenant("acme", def); err == nil {
		t.Error("ParseTenant accepted a tenant without key")
	}
	ts, err := ParseTenantsFile(strings.NewReader("# tenants\nacme, k1, burst:10:100:5s\n\nglobex,k2\n"), def)
	if err != nil || len(ts) != 2 || ts[0].Profile.Kind != "burst" || ts[1].Profile != def || ts[1].Key != "k2" {
		t.Errorf("ParseTenantsFile = %+v, %v", ts, err)
	}
	if _, err := ParseTenantsFile(strings.NewReader("acme\n"), def); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("ParseTenantsFile of a bad line: %v", err)
	}
}

func TestParseWeightsRejectsUnknownNames(t *testing.T) {
	w, err := ParseWeights("ndjson=50,otlp-proto=30,otlp-json=20", allFormats)
	if err != nil || w[FormatNDJSON] != 50 || w[FormatOTLPJSON] != 20 {
		t.Errorf("ParseWeights = %v, %v", w, err)
	}
	if _, err := ParseWeights("protobuf=1", allFormats); err == nil {
		t.Error("unknown format accepted")
	}
	wt := newWeighted(map[Signal]int{SignalLogs: 1, SignalTraces: 3, SignalMetrics: 0})
	if wt.total() != 4 || wt.pick(0) != SignalLogs || wt.pick(3) != SignalTraces {
		t.Errorf("weighted pick: %+v", wt)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Target = "ftp://x"
	cfg.BatchSize = 0
	cfg.Duration = 0
	cfg.Tenants = []Tenant{{Name: "Bad Name", Key: "k", Profile: Profile{Kind: "steady", Base: 1}}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"target", "batch_size", "duration", `tenant "Bad Name"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "tenants") {
		t.Errorf("zero config: %v", err)
	}
}
