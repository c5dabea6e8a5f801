package filter_test

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// golangConfigs walks m, unpacking every Any, and returns the golang filter configurations
// (filter level) and per-route configurations it holds.
func golangConfigs(t *testing.T, m proto.Message) (filters []*golang.Config, routes []*golang.ConfigsPerRoute) {
	t.Helper()
	var walk func(protoreflect.Message)
	visit := func(m protoreflect.Message) {
		if m.Descriptor().FullName() == "google.protobuf.Any" {
			a, ok := m.Interface().(*anypb.Any)
			if !ok {
				t.Fatalf("an Any of type %T", m.Interface())
			}
			inner, err := a.UnmarshalNew()
			if err != nil {
				t.Fatalf("cannot unpack Any of type %q: %v", a.GetTypeUrl(), err)
			}
			m = inner.ProtoReflect()
		}
		switch x := m.Interface().(type) {
		case *golang.Config:
			filters = append(filters, x)
		case *golang.ConfigsPerRoute:
			routes = append(routes, x)
		}
		walk(m)
	}
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					visit(mv.Message())
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				visit(v.Message())
			}
			return true
		})
	}
	visit(m.ProtoReflect())
	return filters, routes
}

// checkPluginConfigs runs the filter's Parse (and Merge) on every golang filter configuration
// of resources, as Envoy would on receiving them, and returns the filter-level configs parsed.
func checkPluginConfigs(t *testing.T, resources []proto.Message) []interface{} {
	t.Helper()
	var parsed []interface{}
	var routeConfigs []*golang.ConfigsPerRoute
	for _, r := range resources {
		filters, routes := golangConfigs(t, r)
		routeConfigs = append(routeConfigs, routes...)
		for _, c := range filters {
			if c.GetPluginName() != filterconfig.PluginName || c.GetLibraryId() != filterconfig.LibraryID {
				t.Errorf("golang filter plugin_name %q, library_id %q; the .so registers %q in library %q (a mismatch fails open)",
					c.GetPluginName(), c.GetLibraryId(), filterconfig.PluginName, filterconfig.LibraryID)
			}
			m, _ := envoyhost.NewMetrics(nil)
			p, err := envoyhost.ParseConfig(filter.ConfigParser{}, c.GetPluginConfig(), m)
			if err != nil {
				t.Errorf("the filter's Parse rejects the control plane's plugin_config (Envoy would NACK the listener): %v", err)
				continue
			}
			if m.Counter(filter.MetricRequests) != 0 || !p.(*filter.ParsedConfig).HasMetrics() {
				t.Error("filter-level Parse did not define the counters")
			}
			// Parsed again at route level (nil callbacks), then merged, as Envoy does for a route
			// that overrides the filter's configuration.
			child, err := envoyhost.ParseConfig(filter.ConfigParser{}, c.GetPluginConfig(), nil)
			if err != nil {
				t.Errorf("route-level Parse: %v", err)
				continue
			}
			if _, ok := (filter.ConfigParser{}).Merge(p, child).(*filter.ParsedConfig); !ok {
				t.Error("Merge did not return a *ParsedConfig")
			}
			parsed = append(parsed, p)
		}
	}
	for _, rc := range routeConfigs {
		for name, plugin := range rc.GetPluginsConfig() {
			if name != filterconfig.PluginName {
				t.Errorf("route-level golang config for plugin %q, want %q", name, filterconfig.PluginName)
			}
			child, err := envoyhost.ParseConfig(filter.ConfigParser{}, plugin.GetConfig(), nil)
			if err != nil {
				t.Errorf("route-level Parse rejects the control plane's config (Envoy can die at the first request): %v", err)
				continue
			}
			for _, p := range parsed {
				filter.ConfigParser{}.Merge(p, child)
			}
		}
	}
	if len(parsed) == 0 {
		t.Error("no golang filter configuration in the snapshot: the edge would not run the filter")
	}
	return parsed
}

// contractKey is a key in the registry's format for tenant, with its secret.
func contractKey(tenant, prefix string, revokedAt *time.Time) (registry.APIKey, string) {
	secret := fmt.Sprintf("ik_%s_%s", prefix, "contractsecret"+prefix+"abcdefghijklmnopq")
	salt := sha256.Sum256([]byte("salt:" + prefix))
	return registry.APIKey{
		ID: prefix, Prefix: prefix, Salt: salt[:registry.SaltLen], Hash: registry.HashKey(salt[:registry.SaltLen], secret),
		CreatedAt: start.Add(-time.Hour), RevokedAt: revokedAt,
	}, secret
}

// contractState has one tenant per stage given (IDs t0, t1...; key prefixes aaaaaaaa, aaaaaaab...),
// with their secrets by tenant.
func contractState(t *testing.T, stages ...string) (registry.State, map[string]string) {
	st := registry.State{Revision: 3, Upstreams: registry.Upstreams{
		V1: []registry.Endpoint{{Host: "10.0.1.1", Port: 8080}},
		V2: []registry.Endpoint{{Host: "10.0.2.1", Port: 4318}},
	}}
	secrets := map[string]string{}
	for i, s := range stages {
		stage, err := registry.ParseStage(s)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("t%d", i)
		k, secret := contractKey(id, fmt.Sprintf("aaaaaaa%c", 'a'+i), nil)
		secrets[id] = secret
		st.Tenants = append(st.Tenants, registry.Tenant{
			ID: id, Stage: stage, Keys: []registry.APIKey{k},
			Quotas: registry.Quotas{EventsPerSecond: 100, BytesPerSecond: 1 << 20},
		})
	}
	return st, secrets
}

// TestFilterParsesEveryPluginConfigOfTheControlPlane is the contract between the control plane
// and the filter (ENVOY_NOTES: a Parse error NACKs the listener, a plugin-name mismatch fails
// open): for snapshots with tenants in every stage, the filter's own Parse and Merge accept
// every golang filter configuration, under the plugin name the .so registers, and the keys the
// control plane serves authenticate their tenants in the filter.
func TestFilterParsesEveryPluginConfigOfTheControlPlane(t *testing.T) {
	cfg := xds.DefaultConfig()
	cfg.CertFile, cfg.KeyFile = "/unused/cert.pem", "/unused/key.pem"
	small := cfg
	small.Edge = xds.EdgeLimits{MaxInFlightBytes: 1 << 20, MaxRequestBodyBytes: 64 << 10, DefaultRetryAfter: 30 * time.Second}

	all, allSecrets := contractState(t, "legacy", "shadow", "canary:10", "v2")
	past, future := start.Add(-time.Minute), start.Add(time.Hour)
	revoked, revokedSecret := contractKey("t0", "bbbbbbba", &past)
	rotating, rotatingSecret := contractKey("t0", "bbbbbbbb", &future)
	all.Tenants[0].Keys = append(all.Tenants[0].Keys, revoked, rotating)

	type tc struct {
		cfg     xds.Config
		state   registry.State
		secrets map[string]string // tenant → a key that must authenticate
		refused []string          // keys that must get 401
	}
	cases := map[string]tc{
		"all stages, revoked and rotating keys": {cfg, all, allSecrets, []string{revokedSecret}},
		"no tenants":                            {cfg, registry.State{Revision: 1}, nil, nil},
		"small edge limits":                     {small, all, allSecrets, nil},
	}
	for _, s := range []string{"legacy", "shadow", "canary:1", "canary:50", "canary:99", "v2"} {
		st, secrets := contractState(t, s)
		cases["stage "+s] = tc{cfg, st, secrets, nil}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			snap, err := xds.Build(c.cfg, xds.Input{State: c.state, Cert: xds.Certificate{Chain: []byte("c"), Key: []byte("k")}, Now: start}, "1")
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if err := xds.Validate(snap); err != nil {
				t.Fatalf("the control plane's own validation fails: %v", err)
			}
			var resources []proto.Message
			for _, r := range snap.Resources {
				for _, item := range r.Items {
					resources = append(resources, item.Resource)
				}
			}
			parsed := checkPluginConfigs(t, resources)
			secrets := c.secrets
			if name == "all stages, revoked and rotating keys" {
				secrets = map[string]string{"t0": rotatingSecret, "t1": allSecrets["t1"], "t2": allSecrets["t2"], "t3": allSecrets["t3"]}
			}
			for _, p := range parsed {
				e := newEnv(t, testConfig())
				e.filter.Config = p
				for _, tenant := range slices.Sorted(maps.Keys(secrets)) {
					res := e.send(request("/v1/events", secrets[tenant], "application/x-ndjson", events(1)))
					if res.Local != nil || res.Header.Get("X-Tenant-Id") != tenant || res.Header.Get(filterconfig.DefaultMarkerHeader) != filterconfig.MarkerValue {
						t.Errorf("tenant %s's served key: %s, want admitted with x-tenant-id and the marker", tenant, describe(res))
					}
				}
				for _, k := range c.refused {
					if res := e.send(request("/v1/events", k, "application/x-ndjson", events(1))); res.Local == nil || res.Local.Status != 401 {
						t.Error("a revoked key authenticated")
					}
				}
			}
		})
	}
}

// TestFilterParsesTheGoldenSnapshots runs the same contract over the control plane's pinned
// golden snapshots (controlplane/xds/testdata/golden/*.binpb), which the API-parity check also
// decodes with Envoy 1.33's protos.
func TestFilterParsesTheGoldenSnapshots(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "controlplane", "xds", "testdata", "golden", "*.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden snapshots found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			resp := &discovery.DiscoveryResponse{}
			if err := proto.Unmarshal(b, resp); err != nil {
				t.Fatalf("cannot decode %s: %v", f, err)
			}
			var resources []proto.Message
			for _, a := range resp.GetResources() {
				resources = append(resources, a)
			}
			checkPluginConfigs(t, resources)
		})
	}
}

// describe renders a result for a failure message.
func describe(res *envoyhost.Result) string {
	if res.Local != nil {
		return fmt.Sprintf("local reply %d %s", res.Local.Status, res.Local.Body)
	}
	return fmt.Sprintf("forwarded with headers %v", res.Header)
}
