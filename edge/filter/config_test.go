package filter_test

import (
	"reflect"
	"strings"
	"testing"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// typedStruct packs a JSON object as the golang filter's plugin_config, under typeURL.
func typedStruct(t *testing.T, typeURL, js string) *anypb.Any {
	t.Helper()
	s := &structpb.Struct{}
	if err := s.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xdstype.TypedStruct{TypeUrl: typeURL, Value: s})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseRejectsBadConfig(t *testing.T) {
	good, err := filterconfig.Encode(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	notStruct, _ := anypb.New(wrapperspb.String(`{"tenants":[]}`))
	limits := `"limits":{"max_in_flight_bytes":100,"max_request_body_bytes":10,"default_retry_after_seconds":1},"marker_header":"x-ingest-edge"`
	for _, tc := range []struct {
		name string
		any  *anypb.Any
		want string
	}{
		{"missing", nil, "missing"},
		{"not a TypedStruct", notStruct, "type"},
		{"truncated", &anypb.Any{TypeUrl: filterconfig.TypedStructTypeURL, Value: good.Value[:len(good.Value)/2]}, "unmarshal"},
		{"wrong schema version", typedStruct(t, "type.googleapis.com/ingestdev.ingest.edge.v0.Config", `{"tenants":[]}`), "type_url"},
		{"unknown field", typedStruct(t, filterconfig.TypeURL, `{"tenants":[],"keys":{},"surprise":1,`+limits+`}`), "surprise"},
		{"no limits", typedStruct(t, filterconfig.TypeURL, `{"tenants":[],"keys":{},"marker_header":"x-ingest-edge"}`), "max_in_flight_bytes"},
		{"key of an unknown tenant", typedStruct(t, filterconfig.TypeURL, `{"tenants":[],"keys":{"acmeaaaa":[{"tenant":"ghost",`+
			`"salt":"c2FsdHNhbHRzYWx0","hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]},`+limits+`}`), "ghost"},
		{"marker outside x-ingest-", typedStruct(t, filterconfig.TypeURL, `{"tenants":[],"keys":{},`+
			strings.Replace(limits, "x-ingest-edge", "x-edge", 1)+`}`), "marker_header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := envoyhost.NewMetrics(nil)
			v, err := envoyhost.ParseConfig(filter.ConfigParser{}, tc.any, m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, %v; want an error naming %q", v, err, tc.want)
			}
			if m.Counter(filter.MetricRequests) != 0 {
				t.Error("a rejected config defined counters")
			}
		})
	}
	if _, err := envoyhost.ParseConfig(filter.ConfigParser{}, good, nil); err != nil {
		t.Errorf("the good config is rejected: %v", err)
	}
}

func TestParseDefinesCountersOnlyWithCallbacks(t *testing.T) {
	a, _ := filterconfig.Encode(testConfig())
	m, _ := envoyhost.NewMetrics(nil)
	withCB, err := filter.ConfigParser{}.Parse(a, m)
	if err != nil {
		t.Fatal(err)
	}
	routeLevel, err := filter.ConfigParser{}.Parse(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !withCB.(*filter.ParsedConfig).HasMetrics() || routeLevel.(*filter.ParsedConfig).HasMetrics() {
		t.Error("counters must be defined at filter level (callbacks) and not at route level (nil)")
	}
}

func TestMergeLeavesTheParentUntouched(t *testing.T) {
	parentCfg := testConfig()
	childCfg := testConfig()
	childCfg.Tenants = childCfg.Tenants[:1]
	delete(childCfg.Keys, "betabbbb")
	childCfg.Limits.DefaultRetryAfterSeconds = 9
	pa, _ := filterconfig.Encode(parentCfg)
	ca, _ := filterconfig.Encode(childCfg)
	m, _ := envoyhost.NewMetrics(nil)
	parent, err := envoyhost.ParseConfig(filter.ConfigParser{}, pa, m)
	if err != nil {
		t.Fatal(err)
	}
	child, err := envoyhost.ParseConfig(filter.ConfigParser{}, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := parent.(*filter.ParsedConfig)
	before := *p
	beforeCfg := proto.Clone(mustEncode(t, p.Config()))

	merged := (filter.ConfigParser{}).Merge(parent, child)
	mc, ok := merged.(*filter.ParsedConfig)
	if !ok || mc == p || mc == child.(*filter.ParsedConfig) {
		t.Fatalf("Merge returned %T %p, want a new *ParsedConfig", merged, merged)
	}
	if !reflect.DeepEqual(before, *p) || !proto.Equal(beforeCfg, mustEncode(t, p.Config())) {
		t.Error("Merge changed the parent")
	}
	if mc.Config().Limits.DefaultRetryAfterSeconds != 9 || len(mc.Config().Tenants) != 1 {
		t.Errorf("merged config %+v, want the child's", mc.Config())
	}
	if !mc.HasMetrics() {
		t.Error("the merged config lost the parent's counters")
	}
	// The merged config works: beta is not in the child's configuration.
	e := newEnv(t, testConfig())
	e.filter.Config = merged
	if res := e.send(request("/v1/events", betaKey, "application/x-ndjson", events(1))); res.Local == nil || res.Local.Status != 401 {
		t.Errorf("beta's key passed the merged (child) config")
	}
	// Merging with a foreign value keeps the other side.
	if got := (filter.ConfigParser{}).Merge(parent, "x"); got == parent || got.(*filter.ParsedConfig).Config() != p.Config() {
		t.Errorf("Merge(parent, foreign) = %v", got)
	}
}

func mustEncode(t *testing.T, c *filterconfig.Config) *anypb.Any {
	t.Helper()
	a, err := filterconfig.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
