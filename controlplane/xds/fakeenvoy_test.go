package xds

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fakeEnvoy is an ADS client that behaves like Envoy as far as the control plane can tell:
// it subscribes to CDS and LDS as wildcards, then to EDS, RDS, SDS and ECDS by the names the
// accepted clusters and listeners reference (ECDS: the name of each HTTP filter with
// config_discovery); it ACKs with the version and nonce of each
// response and NACKs with its last accepted version, the nonce and an error_detail. It speaks
// SotW or delta. Every received resource is unpacked and validated; reject decides extra
// rejections (the part of Envoy a test wants to fail).
type fakeEnvoy struct {
	t      testing.TB
	node   *core.Node
	delta  bool
	reject func(typeURL string, resources map[string]proto.Message) error

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	types   map[string]*fakeType
	err     error // the stream's end
}

// fakeType is what the fake knows of one resource type.
type fakeType struct {
	responses  int                      // responses received
	acks       int                      // ACKs sent
	nacks      int                      // NACKs sent
	version    string                   // last accepted version (delta: system_version_info)
	nonce      string                   // last response nonce
	resources  map[string]proto.Message // accepted resources by name
	subscribed []string                 // names subscribed (nil: wildcard)
	// log records "version/accepted|rejected" for each response in order.
	log []string
}

func newFakeEnvoy(t testing.TB, nodeID string, delta bool) *fakeEnvoy {
	f := &fakeEnvoy{
		t:       t,
		node:    &core.Node{Id: nodeID, Cluster: "ingest-edge"},
		delta:   delta,
		changed: make(chan struct{}),
		types:   map[string]*fakeType{},
	}
	for _, typ := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType, resource.ExtensionConfigType} {
		f.types[typ] = &fakeType{resources: map[string]proto.Message{}}
	}
	return f
}

// run connects and processes responses until ctx is done or the stream fails.
func (f *fakeEnvoy) run(ctx context.Context, conn grpc.ClientConnInterface) {
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)
	var err error
	if f.delta {
		err = f.runDelta(ctx, client)
	} else {
		err = f.runSotW(ctx, client)
	}
	f.mu.Lock()
	f.err = err
	f.broadcast()
	f.mu.Unlock()
}

func (f *fakeEnvoy) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeEnvoy) runSotW(ctx context.Context, client discovery.AggregatedDiscoveryServiceClient) error {
	stream, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	send := func(r *discovery.DiscoveryRequest) error { return stream.Send(r) }
	// Envoy: CDS first, then LDS, both wildcard; the node only on the first request.
	if err := send(&discovery.DiscoveryRequest{Node: f.node, TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	if err := send(&discovery.DiscoveryRequest{TypeUrl: resource.ListenerType}); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		res := map[string]proto.Message{}
		perr := decodeAll(resp.GetResources(), res)
		f.mu.Lock()
		ft := f.types[resp.GetTypeUrl()]
		ft.responses++
		ft.nonce = resp.GetNonce()
		if perr == nil && f.reject != nil {
			perr = f.reject(resp.GetTypeUrl(), res)
		}
		req := &discovery.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(), ResourceNames: ft.subscribed}
		var subs []*discovery.DiscoveryRequest
		if perr == nil {
			ft.version, ft.resources = resp.GetVersionInfo(), res
			ft.acks++
			ft.log = append(ft.log, resp.GetVersionInfo()+"/accepted")
			req.VersionInfo = resp.GetVersionInfo()
			for typ, names := range f.references(resp.GetTypeUrl()) {
				dt := f.types[typ]
				if dt.subscribed == nil || !slices.Equal(dt.subscribed, names) {
					dt.subscribed = names
					subs = append(subs, &discovery.DiscoveryRequest{TypeUrl: typ, VersionInfo: dt.version, ResponseNonce: dt.nonce, ResourceNames: names})
				}
			}
		} else {
			ft.nacks++
			ft.log = append(ft.log, resp.GetVersionInfo()+"/rejected")
			req.VersionInfo = ft.version
			req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: perr.Error()}
		}
		f.broadcast()
		f.mu.Unlock()
		// Like Envoy: subscribe to what a cluster/listener needs, then ACK it.
		for _, r := range append(subs, req) {
			if err := send(r); err != nil {
				return err
			}
		}
	}
}

func (f *fakeEnvoy) runDelta(ctx context.Context, client discovery.AggregatedDiscoveryServiceClient) error {
	stream, err := client.DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: f.node, TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType}); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		anys := make([]*anypb.Any, 0, len(resp.GetResources()))
		for _, r := range resp.GetResources() {
			anys = append(anys, r.GetResource())
		}
		changed := map[string]proto.Message{}
		perr := decodeAll(anys, changed)
		f.mu.Lock()
		ft := f.types[resp.GetTypeUrl()]
		ft.responses++
		ft.nonce = resp.GetNonce()
		if perr == nil && f.reject != nil {
			perr = f.reject(resp.GetTypeUrl(), changed)
		}
		req := &discovery.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
		var subs []*discovery.DeltaDiscoveryRequest
		if perr == nil {
			next := maps.Clone(ft.resources)
			maps.Copy(next, changed)
			for _, name := range resp.GetRemovedResources() {
				delete(next, name)
			}
			ft.version, ft.resources = resp.GetSystemVersionInfo(), next
			ft.acks++
			ft.log = append(ft.log, resp.GetSystemVersionInfo()+"/accepted")
			for typ, names := range f.references(resp.GetTypeUrl()) {
				dt := f.types[typ]
				add, drop := diff(dt.subscribed, names)
				dt.subscribed = names
				if len(add) > 0 || len(drop) > 0 {
					subs = append(subs, &discovery.DeltaDiscoveryRequest{TypeUrl: typ, ResourceNamesSubscribe: add, ResourceNamesUnsubscribe: drop})
				}
			}
		} else {
			ft.nacks++
			ft.log = append(ft.log, resp.GetSystemVersionInfo()+"/rejected")
			req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: perr.Error()}
		}
		f.broadcast()
		f.mu.Unlock()
		for _, r := range append(subs, req) {
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
}

// references returns, for an accepted CDS or LDS state, the names of the resources it needs
// by type. f.mu is held.
func (f *fakeEnvoy) references(typeURL string) map[string][]string {
	out := map[string][]string{}
	switch typeURL {
	case resource.ClusterType:
		var eds []string
		for name, m := range f.types[typeURL].resources {
			c := m.(*cluster.Cluster)
			if c.GetType() == cluster.Cluster_EDS {
				eds = append(eds, cmpOr(c.GetEdsClusterConfig().GetServiceName(), name))
			}
		}
		out[resource.EndpointType] = sorted(eds)
	case resource.ListenerType:
		var rds, sds, ecds []string
		for _, m := range f.types[typeURL].resources {
			for _, fc := range m.(*listener.Listener).GetFilterChains() {
				for _, fl := range fc.GetFilters() {
					h := &hcm.HttpConnectionManager{}
					if fl.GetTypedConfig().UnmarshalTo(h) != nil {
						continue
					}
					if h.GetRds() != nil {
						rds = append(rds, h.GetRds().GetRouteConfigName())
					}
					for _, hf := range h.GetHttpFilters() {
						if hf.GetConfigDiscovery() != nil {
							ecds = append(ecds, hf.GetName())
						}
					}
				}
				tc := &tls.DownstreamTlsContext{}
				if fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(tc) == nil {
					for _, s := range tc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
						sds = append(sds, s.GetName())
					}
				}
			}
		}
		out[resource.RouteType] = sorted(rds)
		out[resource.SecretType] = sorted(sds)
		out[resource.ExtensionConfigType] = sorted(ecds)
	}
	return out
}

// decodeAll unpacks and validates every resource, as Envoy's own config validation would.
func decodeAll(anys []*anypb.Any, out map[string]proto.Message) error {
	var errs []error
	for _, a := range anys {
		m, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, err)
			}
		}
		out[resourceName(m)] = m
	}
	return errors.Join(errs...)
}

func resourceName(m proto.Message) string {
	if cla, ok := m.(interface{ GetClusterName() string }); ok {
		return cla.GetClusterName()
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

// waitFor waits until cond holds on the fake's state, failing the test after timeout.
func (f *fakeEnvoy) waitFor(timeout time.Duration, what string, cond func(map[string]*fakeType) bool) {
	f.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, err, ch := cond(f.types), f.err, f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		if err != nil {
			f.t.Fatalf("waiting for %s: stream ended: %v", what, err)
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("waiting for %s: timed out after %v; state: %s", what, timeout, f.dump())
		}
	}
}

// snapshot returns a copy of the per-type counters and versions.
func (f *fakeEnvoy) snapshot() map[string]fakeType {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]fakeType{}
	for typ, ft := range f.types {
		c := *ft
		c.resources = maps.Clone(ft.resources)
		c.log = slices.Clone(ft.log)
		out[typ] = c
	}
	return out
}

func (f *fakeEnvoy) dump() string {
	s := ""
	for _, typ := range sorted(slices.Collect(maps.Keys(f.snapshot()))) {
		ft := f.snapshot()[typ]
		s += fmt.Sprintf("\n  %s: version=%q responses=%d log=%v names=%v", typ, ft.version, ft.responses, ft.log, slices.Sorted(maps.Keys(ft.resources)))
	}
	return s
}

func diff(old, cur []string) (add, drop []string) {
	for _, n := range cur {
		if !slices.Contains(old, n) {
			add = append(add, n)
		}
	}
	for _, n := range old {
		if !slices.Contains(cur, n) {
			drop = append(drop, n)
		}
	}
	return add, drop
}

func sorted(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
