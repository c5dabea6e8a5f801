package goedge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// xdsTypes are the resource types the edge subscribes to, in the order it subscribes.
var xdsTypes = []string{resource.ClusterType, resource.ListenerType, resource.EndpointType, resource.RouteType, resource.SecretType}

// shortType returns a type URL's message name ("Listener"...), for logs and labels.
func shortType(typeURL string) string {
	switch typeURL {
	case resource.ClusterType:
		return "cds"
	case resource.ListenerType:
		return "lds"
	case resource.EndpointType:
		return "eds"
	case resource.RouteType:
		return "rds"
	case resource.SecretType:
		return "sds"
	}
	return "unknown"
}

// typeState is what the edge holds of one resource type: the last accepted version, its
// compiled resources by name, the names it subscribed to (nil: wildcard) and the last nonce
// received on the current stream.
type typeState struct {
	version    string
	nonce      string
	rejected   string // the last rejected version and error, to log a repeated NACK once
	subscribed []string
	resources  map[string]any
}

// xdsStore holds the accepted xDS resources, compiled, and assembles them into a
// [snapshot]. It belongs to the one goroutine that runs the ADS stream (or to a test).
type xdsStore struct {
	listenerName string
	filter       filterRuntime
	types        map[string]*typeState
}

func newXDSStore(listenerName string, fr filterRuntime) *xdsStore {
	s := &xdsStore{listenerName: listenerName, filter: fr, types: map[string]*typeState{}}
	for _, t := range xdsTypes {
		ts := &typeState{resources: map[string]any{}}
		if t == resource.EndpointType || t == resource.RouteType || t == resource.SecretType {
			ts.subscribed = []string{}
		}
		s.types[t] = ts
	}
	return s
}

// apply decodes, validates and compiles one state-of-the-world response for typeURL. On an
// error nothing changes (the caller NACKs); otherwise the type's resources and version are
// replaced, and apply returns, for each dependent type whose subscription changed, the names
// to subscribe to now.
func (s *xdsStore) apply(typeURL, version string, anys []*anypb.Any) (map[string][]string, error) {
	ts, ok := s.types[typeURL]
	if !ok {
		return nil, fmt.Errorf("cannot apply resources of type %q: the Go edge does not subscribe to it", typeURL)
	}
	compiled := map[string]any{}
	var errs []error
	var listeners []*listener.Listener
	for _, a := range anys {
		if a.GetTypeUrl() != typeURL {
			errs = append(errs, fmt.Errorf("resource of type %q in a response of type %q", a.GetTypeUrl(), typeURL))
			continue
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot decode %s resource: %w", shortType(typeURL), err))
			continue
		}
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s resource %q: %w", shortType(typeURL), resourceName(m), err))
				continue
			}
		}
		switch r := m.(type) {
		case *listener.Listener:
			listeners = append(listeners, r)
		case *routev3.RouteConfiguration:
			t, err := compileRoutes(r, s.clusterNames())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = t
		case *cluster.Cluster:
			c, err := compileCluster(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = c
		case *endpoint.ClusterLoadAssignment:
			eps, err := compileEndpoints(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetClusterName()] = eps
		case *tlsv3.Secret:
			c, err := compileSecret(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = c
		default:
			errs = append(errs, fmt.Errorf("unexpected resource %T", m))
		}
	}
	if typeURL == resource.ListenerType && len(errs) == 0 {
		// Only the listener this edge serves is compiled (its filter config parsed).
		l, err := s.pickListener(listeners)
		if err != nil {
			errs = append(errs, err)
		} else if l != nil {
			lc, err := compileListener(l, s.filter)
			if err != nil {
				errs = append(errs, err)
			} else {
				compiled[l.GetName()] = lc
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	switch typeURL {
	case resource.ListenerType, resource.ClusterType:
		// Wildcard: the response is the whole set.
		ts.resources = compiled
	default:
		// Named: a response updates what it holds; names no longer subscribed are dropped.
		next := maps.Clone(ts.resources)
		maps.Copy(next, compiled)
		for name := range next {
			if !slices.Contains(ts.subscribed, name) {
				delete(next, name)
			}
		}
		ts.resources = next
	}
	ts.version = version

	subs := map[string][]string{}
	for typ, names := range s.references(typeURL) {
		dt := s.types[typ]
		if !slices.Equal(dt.subscribed, names) {
			dt.subscribed = names
			for name := range dt.resources {
				if !slices.Contains(names, name) {
					delete(dt.resources, name)
				}
			}
			subs[typ] = names
		}
	}
	return subs, nil
}

// pickListener returns the listener this edge serves: the one named Config.ListenerName, or
// the only one. No listener at all is not an error (the edge keeps its last configuration).
func (s *xdsStore) pickListener(ls []*listener.Listener) (*listener.Listener, error) {
	if s.listenerName != "" {
		for _, l := range ls {
			if l.GetName() == s.listenerName {
				return l, nil
			}
		}
		return nil, nil
	}
	switch len(ls) {
	case 0:
		return nil, nil
	case 1:
		return ls[0], nil
	}
	names := make([]string, 0, len(ls))
	for _, l := range ls {
		names = append(names, l.GetName())
	}
	return nil, fmt.Errorf("cannot pick a listener among %q: set the edge's listener_name", names)
}

// references returns, after typeURL changed, the names each dependent type must subscribe to.
func (s *xdsStore) references(typeURL string) map[string][]string {
	switch typeURL {
	case resource.ClusterType:
		var eds []string
		for _, r := range s.types[typeURL].resources {
			if c := r.(*clusterConfig); !c.isStatic {
				eds = append(eds, c.edsName)
			}
		}
		return map[string][]string{resource.EndpointType: sortedUnique(eds)}
	case resource.ListenerType:
		rds, sds := []string{}, []string{}
		for _, r := range s.types[typeURL].resources {
			lc := r.(*listenerConfig)
			if lc.routeConfigName != "" {
				rds = append(rds, lc.routeConfigName)
			}
			sds = append(sds, lc.secretNames...)
		}
		return map[string][]string{resource.RouteType: sortedUnique(rds), resource.SecretType: sortedUnique(sds)}
	}
	return nil
}

// clusterNames returns the names of the accepted clusters.
func (s *xdsStore) clusterNames() clusterSet {
	out := clusterSet{}
	for name := range s.types[resource.ClusterType].resources {
		out[name] = true
	}
	return out
}

func (s *xdsStore) versions() map[string]string {
	out := make(map[string]string, len(s.types))
	for t, ts := range s.types {
		out[t] = ts.version
	}
	return out
}

// parts is a complete set of compiled resources, ready to become a snapshot.
type parts struct {
	listener  *listenerConfig
	routes    *routeTable
	cert      *tls.Certificate // nil: from the edge's files
	clusters  map[string]*clusterConfig
	endpoints map[string][]string // by cluster name
	versions  map[string]string
}

// complete returns the parts of a complete configuration, or a reason why there is none
// yet (a listener, route configuration, secret or endpoints still to come; Envoy would keep
// them warming). fileCert says the certificate comes from files, not from SDS.
func (s *xdsStore) complete(fileCert bool) (*parts, string) {
	var lc *listenerConfig
	for _, r := range s.types[resource.ListenerType].resources {
		lc = r.(*listenerConfig)
	}
	if lc == nil {
		return nil, "no listener yet"
	}
	p := &parts{listener: lc, clusters: map[string]*clusterConfig{}, endpoints: map[string][]string{}, versions: s.versions()}
	rt, ok := s.types[resource.RouteType].resources[lc.routeConfigName].(*routeTable)
	if !ok {
		return nil, fmt.Sprintf("waiting for route configuration %q", lc.routeConfigName)
	}
	p.routes = rt
	switch {
	case fileCert:
	case lc.inlineCert != nil:
		p.cert = lc.inlineCert
	default:
		name := lc.secretNames[0]
		c, ok := s.types[resource.SecretType].resources[name].(*tls.Certificate)
		if !ok {
			return nil, fmt.Sprintf("waiting for secret %q", name)
		}
		p.cert = c
	}
	for name, r := range s.types[resource.ClusterType].resources {
		c := r.(*clusterConfig)
		p.clusters[name] = c
		if c.isStatic {
			p.endpoints[name] = c.static
			continue
		}
		eps, ok := s.types[resource.EndpointType].resources[c.edsName].([]string)
		if !ok {
			return nil, fmt.Sprintf("waiting for the endpoints of cluster %q", name)
		}
		p.endpoints[name] = eps
	}
	return p, ""
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

func sortedUnique(s []string) []string {
	if s == nil {
		s = []string{}
	}
	slices.Sort(s)
	return slices.Compact(s)
}
