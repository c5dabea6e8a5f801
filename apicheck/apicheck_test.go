package apicheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"
)

// TestServedResourcesAreKnownToEnvoy133 decodes the resources the control plane builds for
// every golden case (each stage, all stages, no tenants) with the Envoy 1.33-era protos.
func TestServedResourcesAreKnownToEnvoy133(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "controlplane", "xds", "testdata", "golden", "*.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d golden .binpb files, want one per stage and more (run the main module's golden test with -update)", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".binpb"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			resp := &discovery.DiscoveryResponse{}
			if err := proto.Unmarshal(b, resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.GetResources()) < 8 {
				t.Fatalf("%d resources, want at least 8 (listener, routes, 2 clusters, 2 endpoints, secret, the edge filter's ECDS config)", len(resp.GetResources()))
			}
			ecds := 0
			for i, a := range resp.GetResources() {
				if a.GetTypeUrl() == "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig" {
					ecds++
				}
				m, err := a.UnmarshalNew()
				if err != nil {
					t.Errorf("resource %d of type %q: %v", i, a.GetTypeUrl(), err)
					continue
				}
				if errs := Check(string(m.ProtoReflect().Descriptor().Name())+" "+resourceName(m), m); len(errs) > 0 {
					t.Errorf("Envoy 1.33 would not see this as the control plane does:\n%v", errors.Join(errs...))
				}
			}
			if ecds != 1 {
				t.Errorf("%d ECDS resources (TypedExtensionConfig), want the edge filter's one", ecds)
			}
		})
	}
}

func resourceName(m proto.Message) string {
	if n, ok := m.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

// TestBootstrapIsKnownToEnvoy133 parses edge/envoy/bootstrap.yaml with the 1.33-era protos,
// rejecting unknown fields, and checks it like the served resources.
func TestBootstrapIsKnownToEnvoy133(t *testing.T) {
	y, err := os.ReadFile(filepath.Join("..", "edge", "envoy", "bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	bs := &bootstrap.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		t.Fatalf("Envoy 1.33 cannot read edge/envoy/bootstrap.yaml: %v", err)
	}
	if errs := Check("bootstrap", bs); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
}

// TestCheckCatchesAFieldNewerThan133 proves the check fails on what it exists for: a field
// Envoy 1.33 does not know, here deep inside an Any. Route field 20 is
// request_body_buffer_limit, added after 1.33 (1.33 has per_request_buffer_limit_bytes).
func TestCheckCatchesAFieldNewerThan133(t *testing.T) {
	r := &route.Route{
		Name:                       "tenant:acme",
		Match:                      &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action:                     &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "ingest-v2"}}},
		PerRequestBufferLimitBytes: wrapperspb.UInt32(1 << 20),
	}
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	limit, err := proto.Marshal(wrapperspb.UInt64(1 << 20))
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 20, protowire.BytesType)
	b = protowire.AppendBytes(b, limit)
	rc := &route.RouteConfiguration{Name: "ingest-edge", VirtualHosts: []*route.VirtualHost{{Name: "ingest", Domains: []string{"*"}}}}
	newer := &route.Route{}
	if err := proto.Unmarshal(b, newer); err != nil {
		t.Fatal(err)
	}
	rc.VirtualHosts[0].Routes = []*route.Route{newer}
	a, err := anypb.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	errs := Check("response", &discovery.DiscoveryResponse{Resources: []*anypb.Any{a}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "response.resources[0](envoy.config.route.v3.RouteConfiguration).virtual_hosts[0].routes[0]: fields unknown to Envoy 1.33") ||
		!strings.Contains(errs[0].Error(), "field 20") {
		t.Fatalf("Check = %v, want the unknown field 20 with its path", errs)
	}
}

func TestCheckCatchesUnknownTypesAndEnumValues(t *testing.T) {
	a := &anypb.Any{TypeUrl: "type.googleapis.com/envoy.extensions.filters.http.new_in_1_40.v3.Config"}
	if errs := Check("x", &discovery.DiscoveryResponse{Resources: []*anypb.Any{a}}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "unknown to Envoy 1.33") {
		t.Errorf("unknown Any type: %v", errs)
	}
	r := &route.RetryPolicy_ResetHeader{Name: "retry-after", Format: route.RetryPolicy_ResetHeaderFormat(7)}
	if errs := Check("h", r); len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), "enum value 7") {
		t.Errorf("undefined enum value: %v", errs)
	}
}
