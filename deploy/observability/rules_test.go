// Package observability checks deploy/observability: the Prometheus rules parse with
// Prometheus' own parser, every metric they and the Grafana dashboard query is one an ingest
// service exports (or a rule records), and each rule's expression gives the expected answer on
// sample series. It is its own module, so that the main module does not depend on Prometheus.
package observability

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

var promParser = parser.NewParser(parser.Options{})

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	b, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

// exported returns the metric names the services define: the "ingest_…" string literals of
// the main module's non-test Go files.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	lit := regexp.MustCompile(`"(ingest_[a-z0-9_]+)"`)
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "apicheck" || d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 50 {
		t.Fatalf("found %d metric names in the sources", len(names))
	}
	return names
}

// selectors returns the metric names expr selects.
func selectors(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out
}

// TestEveryQueryNamesAnExportedMetric: the rules' and the dashboard's expressions parse and
// select only metrics a service exports (a histogram's _bucket, _sum and _count included) or
// a rule records.
func TestEveryQueryNamesAnExportedMetric(t *testing.T) {
	names := exported(t)
	recorded := map[string]bool{}
	var exprs []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs = append(exprs, r.Expr)
		}
	}
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if len(dash.Panels) < 10 {
		t.Fatalf("the dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, e := range exprs {
		for _, name := range selectors(t, e) {
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suf); ok && names[b] {
					base = b
				}
			}
			if !names[base] && !recorded[name] {
				t.Errorf("%q selects %s, which no service exports and no rule records", e, name)
			}
		}
	}
}

// ruleExpr returns the expression of the rule recording or alerting as name.
func ruleExpr(t *testing.T, name string) string {
	t.Helper()
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record == name || r.Alert == name {
				return r.Expr
			}
		}
	}
	t.Fatalf("no rule %s", name)
	return ""
}

// TestRulesOnSampleSeries evaluates each rule's expression from rules.yml on sample series
// (promqltest's script: load, then eval with the expected result; an eval with no result
// lines expects none).
func TestRulesOnSampleSeries(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	cases := []struct {
		name, load, want string
	}{
		// 10/s within 0.5 s, 80/s within 1 s, 100/s within 2 s: the 95th is 1.75 s.
		{"ingest:visibility_seconds:p95_5m", `
	ingest_loader_visibility_seconds_bucket{table="logs",le="0.5"} 0+600x10
	ingest_loader_visibility_seconds_bucket{table="logs",le="1"} 0+4800x10
	ingest_loader_visibility_seconds_bucket{table="logs",le="2"} 0+6000x10
	ingest_loader_visibility_seconds_bucket{table="logs",le="+Inf"} 0+6000x10`, `{} 1.75`},
		{"ingest:edge_requests:error_ratio_5m", `
	ingest_edge_requests_total{cluster="ingest-v2",code="200"} 0+5880x10
	ingest_edge_requests_total{cluster="ingest-v2",code="503"} 0+120x10`, `{} 0.02`},
		{"IngestVisibilitySLOBreached", `
	ingest:visibility_seconds:p95_5m 1.75+0x10
	ingest_loader_visibility_objective_seconds{quantile="0.95"} 1+0x10`, `{} 1.75`},
		{"IngestVisibilitySLOBreached", `
	ingest:visibility_seconds:p95_5m 0.6+0x10
	ingest_loader_visibility_objective_seconds{quantile="0.95"} 1+0x10`, ``},
		{"IngestEdgeErrorRatioHigh", `
	ingest:edge_requests:error_ratio_5m 0.02+0x10`, `ingest:edge_requests:error_ratio_5m 0.02`},
		{"IngestEdgeErrorRatioHigh", `
	ingest:edge_requests:error_ratio_5m 0.001+0x10`, ``},
		{"IngestLoaderLagging", `
	ingest_loader_topic_lag_seconds{topic="ingest.acme",instance="a"} 90+0x10
	ingest_loader_topic_lag_seconds{topic="ingest.beta",instance="a"} 2+0x10`, `{topic="ingest.acme"} 90`},
		{"IngestEdgeFull", `
	ingest_edge_shed_total{tenant="acme",reason="err-ingest-edge-full"} 0+300x10`, `{} 5`},
		{"IngestTenantShedding", `
	ingest_tenant:shed:rate5m{stage="edge",tenant="acme",reason="err-ingest-tenant-rate-limited-events"} 40+0x10
	ingest_tenant:shed:rate5m{stage="edge",tenant="beta",reason="err-ingest-edge-full"} 40+0x10`, `{tenant="acme"} 40`},
		{"IngestXDSNACK", `
	ingest_controlplane_xds_nacks_total{type="lds"} 0+0x5 1+0x5`, `{type="lds"} 1`},
		{"IngestXDSNACK", `
	ingest_controlplane_xds_nacks_total{type="lds"} 3+0x10`, ``},
		{"IngestDeadLetters", `
	ingest_loader_deadletter_total{reason="err-loader-insert-rejected"} 0+0x5 2+0x5`, `{reason="err-loader-insert-rejected"} 2`},
	}
	for _, tc := range cases {
		expr := ruleExpr(t, tc.name)
		script := fmt.Sprintf("load 1m%s\n\neval instant at 10m %s\n", tc.load, expr)
		if tc.want != "" {
			script += "\t" + tc.want + "\n"
		}
		t.Run(tc.name, func(t *testing.T) { promqltest.RunTest(t, script, engine) })
	}
}
