package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/controlplane/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenOrder is the order of resource types in golden files.
func goldenOrder() []struct{ key, typeURL string } {
	return []struct{ key, typeURL string }{
		{"listeners", resource.ListenerType},
		{"routes", resource.RouteType},
		{"clusters", resource.ClusterType},
		{"endpoints", resource.EndpointType},
		{"secrets", resource.SecretType},
		{"extension_configs", resource.ExtensionConfigType},
	}
}

// goldenCases are the states whose resources are pinned in testdata/golden: one tenant in
// each stage, and all stages together with revoked and rotating keys. The apicheck module
// decodes the .binpb files of these cases with the Envoy 1.33-era protos.
func goldenCases(t testing.TB) map[string]registry.State {
	all := stateWith(t, map[string]string{"acme": "legacy", "beta": "shadow", "gamma": "canary:10", "delta": "v2"})
	past, future := testNow().Add(-time.Minute), testNow().Add(24*time.Hour)
	all.Tenants[0].Keys = append(all.Tenants[0].Keys,
		apiKey("acme-revoked", "ik_acme", "old-secret", &past),
		apiKey("acme-rotating", "ik_acme", "rotating-secret", &future))
	legacy := func(f func(*registry.Tenant)) registry.State {
		st := stateWith(t, map[string]string{"acme": "legacy"})
		f(&st.Tenants[0])
		return st
	}
	return map[string]registry.State{
		"stage-legacy": stateWith(t, map[string]string{"acme": "legacy"}),
		// The same tenant after a key creation, a revocation and a quota change: only the
		// edge filter's ECDS resource differs from stage-legacy (TestGoldenListenerUnchanged...).
		"legacy-key-created": legacy(func(tn *registry.Tenant) {
			tn.Keys = append(tn.Keys, apiKey("acme-k2", "ik_acme", "second-secret", nil))
		}),
		"legacy-key-revoked": legacy(func(tn *registry.Tenant) {
			tn.Keys = []registry.APIKey{apiKey("acme-k2", "ik_acme", "second-secret", nil)}
		}),
		"legacy-quota-changed": legacy(func(tn *registry.Tenant) {
			tn.Quotas.EventsPerSecond, tn.Quotas.BurstEvents = 10, 20
		}),
		"stage-shadow":    stateWith(t, map[string]string{"acme": "shadow"}),
		"stage-canary-25": stateWith(t, map[string]string{"acme": "canary:25"}),
		"stage-v2":        stateWith(t, map[string]string{"acme": "v2"}),
		"all-stages":      all,
		"no-tenants":      {Revision: 1, Upstreams: registry.Upstreams{}},
	}
}

func TestGoldenResourcesPerStage(t *testing.T) {
	for name, st := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			snap := mustBuild(t, testConfig(), Input{State: st, Cert: testCert(), Now: testNow()})
			js, bin := goldenEncode(t, snap.Resources)
			jsonPath := filepath.Join("testdata", "golden", name+".json")
			binPath := filepath.Join("testdata", "golden", name+".binpb")
			if *update {
				if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
					t.Fatal(err)
				}
				for p, b := range map[string][]byte{jsonPath: js, binPath: bin} {
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(js, want) {
				t.Errorf("%s differs from the built resources (go test -run TestGolden -update rewrites it): %s", jsonPath, firstDiff(want, js))
			}
			wantBin, err := os.ReadFile(binPath)
			if err != nil {
				t.Fatal(err)
			}
			var got, old discovery.DiscoveryResponse
			if err := proto.Unmarshal(bin, &got); err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(wantBin, &old); err != nil {
				t.Fatalf("cannot read %s: %v", binPath, err)
			}
			if !proto.Equal(&got, &old) {
				t.Errorf("%s is stale: the apicheck module would check old resources (go test -run TestGolden -update)", binPath)
			}
		})
	}
}

// TestGoldenListenerUnchangedByKeysAndQuotas pins, in the golden files themselves, that a key
// creation, a key revocation and a quota change move the edge filter's ECDS resource only:
// on Envoy a listener change drains every client connection of the edge.
func TestGoldenListenerUnchangedByKeysAndQuotas(t *testing.T) {
	read := func(name string) map[string]json.RawMessage {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	base := read("stage-legacy")
	for _, name := range []string{"legacy-key-created", "legacy-key-revoked", "legacy-quota-changed"} {
		got := read(name)
		for _, g := range goldenOrder() {
			same := bytes.Equal(base[g.key], got[g.key])
			switch {
			case g.typeURL == resource.ExtensionConfigType && same:
				t.Errorf("%s: the edge filter's configuration (%s) did not change", name, g.key)
			case g.typeURL != resource.ExtensionConfigType && !same:
				t.Errorf("%s: %s differ from stage-legacy; only the ECDS resource may change: %s", name, g.key, firstDiff(base[g.key], got[g.key]))
			}
		}
	}
}

// goldenEncode renders resources as stable, indented protojson grouped by type, and as one
// binary DiscoveryResponse holding every resource (the apicheck input).
func goldenEncode(t testing.TB, res [types.UnknownType]cacheResources) (js, bin []byte) {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("{\n")
	all := &discovery.DiscoveryResponse{VersionInfo: "golden"}
	for i, g := range goldenOrder() {
		items := res[responseType(g.typeURL)].Items
		fmt.Fprintf(&buf, "  %q: [", g.key)
		for j, name := range sortedKeys(items) {
			m := items[name].Resource
			raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var compact, indented bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Indent(&indented, compact.Bytes(), "    ", "  "); err != nil {
				t.Fatal(err)
			}
			if j > 0 {
				buf.WriteString(",")
			}
			buf.WriteString("\n    ")
			buf.Write(indented.Bytes())
			a := &anypb.Any{}
			if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
				t.Fatal(err)
			}
			all.Resources = append(all.Resources, a)
		}
		if len(items) > 0 {
			buf.WriteString("\n  ")
		}
		buf.WriteString("]")
		if i < len(goldenOrder())-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("}\n")
	bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), bin
}

func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d: want %q, got %q", i+1, w, g)
		}
	}
	return "no line differs"
}
