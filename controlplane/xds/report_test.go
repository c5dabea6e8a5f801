package xds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

func TestFilterConfigCarriesReportEndpoint(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "report-token")
	if err := os.WriteFile(tokenFile, []byte(" edge-report-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Report = ReportConfig{URL: "http://10.0.0.5:9090", TokenFile: tokenFile, Interval: 2 * time.Second}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := registry.State{Revision: 3, Tenants: []registry.Tenant{
		{ID: "legacy-t", Stage: registry.Stage{Kind: registry.StageLegacy}},
		{ID: "shadow-t", Stage: registry.Stage{Kind: registry.StageShadow}},
		{ID: "canary-t", Stage: registry.Stage{Kind: registry.StageCanary, Percent: 25}},
		{ID: "v2-t", Stage: registry.Stage{Kind: registry.StageV2}},
	}}
	a, err := makeTenantFilter(cfg, st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fc := parseFilterAny(t, a)
	if fc.ReportURL != cfg.Report.URL || fc.ReportToken != "edge-report-token" || fc.ReportIntervalOrDefault() != 2*time.Second {
		t.Errorf("report fields %q %q %q, want the configured URL, the file's token and 2s", fc.ReportURL, fc.ReportToken, fc.ReportInterval)
	}
	if filterconfig.ClusterV1 != ClusterV1 || filterconfig.ClusterV2 != ClusterV2 {
		t.Errorf("the filter knows the clusters as %q and %q, the control plane names them %q and %q",
			filterconfig.ClusterV1, filterconfig.ClusterV2, ClusterV1, ClusterV2)
	}

	cfg.Report = ReportConfig{URL: "ftp://x", Interval: time.Millisecond}
	err = cfg.Validate()
	for _, want := range []string{"xds.report.url", "xds.report.token_file", "xds.report.interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %s named", err, want)
		}
	}
}
