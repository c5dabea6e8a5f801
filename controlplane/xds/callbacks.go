package xds

import (
	"context"
	"fmt"
	"log/slog"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callbacks are the go-control-plane server callbacks: they register nodes, remember what was
// sent on each stream, and turn a NACK into a fallback instead of the cache's resend loop
// (go-control-plane issue #962: the SotW cache answers a NACK, whose version is the last
// accepted one, with the rejected snapshot again at once).
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) OnStreamOpen(_ context.Context, id int64, _ string) error {
	c.s.openStream(streamKey{id: id})
	return nil
}

func (c callbacks) OnStreamClosed(id int64, _ *core.Node) { c.s.closeStream(streamKey{id: id}) }

func (c callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	return c.s.onRequest(streamKey{id: id}, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), req.GetErrorDetail())
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	c.s.onResponse(streamKey{id: id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

func (c callbacks) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	c.s.openStream(streamKey{delta: true, id: id})
	return nil
}

func (c callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) {
	c.s.closeStream(streamKey{delta: true, id: id})
}

func (c callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	return c.s.onRequest(streamKey{delta: true, id: id}, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "", req.GetErrorDetail())
}

func (c callbacks) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	c.s.onResponse(streamKey{delta: true, id: id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// REST is not served; these are never called.
func (c callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error { return nil }
func (c callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {
}

func (s *Server) openStream(k streamKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[k] = &streamState{sent: map[string]sentResponse{}}
}

func (s *Server) closeStream(k streamKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[k]
	delete(s.streams, k)
	if st == nil || st.node == "" {
		return
	}
	ns := s.nodes[st.node]
	if ns == nil {
		return
	}
	ns.streams--
	if ns.streams > 0 {
		return
	}
	delete(s.nodes, st.node)
	s.cache.ClearSnapshot(st.node)
	s.m.nodes.Set(float64(len(s.nodes)))
	s.log.Info("xds node disconnected", "node", st.node)
}

func (s *Server) onResponse(k streamKey, typeURL, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[k]; st != nil {
		st.sent[typeURL] = sentResponse{nonce: nonce, version: version}
	}
}

// onRequest registers the stream's node on its first request and handles ACKs and NACKs.
// lastAccepted is the SotW version_info (empty for delta).
func (s *Server) onRequest(k streamKey, node *core.Node, typeURL, nonce, lastAccepted string, nack *rpcstatus.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[k]
	if st == nil {
		st = &streamState{sent: map[string]sentResponse{}}
		s.streams[k] = st
	}
	if st.node == "" {
		if err := s.register(st, node); err != nil {
			return err
		}
	}
	ns := s.nodes[st.node]
	sent, ok := st.sent[typeURL]
	if nonce == "" || !ok || sent.nonce != nonce {
		return nil // a first request, a new subscription, or a stale nonce
	}
	if nack == nil {
		ns.acked[typeURL] = sent.version
		if rv, ok := ns.rejected[typeURL]; ok && parseVersion(sent.version) > parseVersion(rv) {
			delete(ns.rejected, typeURL)
		}
		return nil
	}
	if lastAccepted == "" {
		lastAccepted = ns.acked[typeURL]
	}
	s.onNACK(st.node, ns, k.delta, typeURL, sent.version, lastAccepted, nack)
	return nil
}

// register binds a stream to its node, and gives a node seen for the first time the current
// snapshot before its first watch is created. s.mu is held.
func (s *Server) register(st *streamState, node *core.Node) error {
	if node.GetId() == "" {
		return status.Error(codes.InvalidArgument, "node.id is required: the control plane keeps per-node state")
	}
	if s.cfg.NodeCluster != "" && node.GetCluster() != s.cfg.NodeCluster {
		s.log.Warn("xds node refused", "node", node.GetId(), "cluster", node.GetCluster(), "want_cluster", s.cfg.NodeCluster)
		return status.Errorf(codes.PermissionDenied, "node %q has cluster %q; this control plane serves cluster %q",
			node.GetId(), node.GetCluster(), s.cfg.NodeCluster)
	}
	st.node = node.GetId()
	ns := s.nodes[st.node]
	if ns == nil {
		ns = &nodeState{acked: map[string]string{}, rejected: map[string]string{}}
		s.nodes[st.node] = ns
		if s.current != nil {
			s.setSnapshot(s.ctx, st.node, ns, s.current)
		}
		s.m.nodes.Set(float64(len(s.nodes)))
		s.log.Info("xds node connected", "node", st.node, "cluster", node.GetCluster(),
			"user_agent", userAgent(node))
	}
	ns.streams++
	return nil
}

// onNACK reacts to a rejected response: it counts and logs it, then sets the node back to
// the newest earlier generation that holds the version the node last accepted of that type
// and nothing it rejected. The SotW cache then sees the NACK's version as current and holds
// the watch instead of resending; the delta cache sends the good resources once. Without such
// a generation, a SotW node is parked: its snapshot gets that type at the last accepted
// version with no resources, which also holds the watch. s.mu is held.
func (s *Server) onNACK(id string, ns *nodeState, delta bool, typeURL, rejected, lastAccepted string, detail *rpcstatus.Status) {
	s.m.nacks.WithLabelValues(typeLabel(typeURL)).Inc()
	ns.rejected[typeURL] = rejected
	log := s.log.With("node", id, "type_url", typeURL, "rejected_version", rejected, "last_accepted_version", lastAccepted,
		"error_detail", detail.GetMessage(), "error_code", codes.Code(detail.GetCode()).String())

	var fallback *generation
	if lastAccepted != "" {
		for i := len(s.history) - 1; i >= 0; i-- {
			g := s.history[i]
			if g.version < parseVersion(rejected) && g.versions[typeURL] == lastAccepted && !ns.rejects(g) {
				fallback = g
				break
			}
		}
	}
	switch {
	case fallback != nil:
		s.m.fallbacks.WithLabelValues("fallback").Inc()
		if ns.gen != fallback {
			s.setSnapshot(s.ctx, id, ns, fallback)
		}
		log.Error("xds NACK: node set back to its last good snapshot", "fallback_version", fallback.version)
	case delta:
		// The delta cache does not resend a rejected resource; the node keeps what it has.
		s.m.fallbacks.WithLabelValues("parked").Inc()
		ns.parked = true
		log.Error("xds NACK: no earlier good snapshot; node keeps its accepted resources")
	default:
		s.m.fallbacks.WithLabelValues("parked").Inc()
		s.park(id, ns, typeURL, lastAccepted)
		log.Error("xds NACK: no earlier good snapshot; node parked on its accepted version")
	}
}

// park sets for a SotW node a copy of its snapshot whose typeURL resources are replaced by
// none at version lastAccepted: the cache then holds the node's watch. s.mu is held.
func (s *Server) park(id string, ns *nodeState, typeURL, lastAccepted string) {
	if ns.gen == nil {
		return
	}
	parked := &generation{version: ns.gen.version, revision: ns.gen.revision, snap: &cache.Snapshot{}, versions: cloneMap(ns.gen.versions)}
	parked.snap.Resources = ns.gen.snap.Resources
	parked.snap.Resources[cache.GetResponseType(typeURL)] = cache.NewResources(lastAccepted, nil)
	parked.versions[typeURL] = lastAccepted
	s.setSnapshot(s.ctx, id, ns, parked)
	ns.parked = true
}

// userAgent renders a node's user agent, e.g. "envoy 1.33.2".
func userAgent(n *core.Node) string {
	if v := n.GetUserAgentBuildVersion().GetVersion(); v != nil {
		return fmt.Sprintf("%s %d.%d.%d", n.GetUserAgentName(), v.GetMajorNumber(), v.GetMinorNumber(), v.GetPatch())
	}
	return n.GetUserAgentName() + " " + n.GetUserAgentVersion()
}

// cpLogger adapts slog to go-control-plane's logger. Its Info is per watch, so it goes to
// Debug.
type cpLogger struct{ l *slog.Logger }

func (c cpLogger) logf(level slog.Level, format string, args ...any) {
	if c.l.Enabled(context.Background(), level) {
		c.l.Log(context.Background(), level, fmt.Sprintf(format, args...), "source", "go-control-plane")
	}
}

func (c cpLogger) Debugf(format string, args ...any) { c.logf(slog.LevelDebug, format, args...) }
func (c cpLogger) Infof(format string, args ...any)  { c.logf(slog.LevelDebug, format, args...) }
func (c cpLogger) Warnf(format string, args ...any)  { c.logf(slog.LevelInfo, format, args...) }
func (c cpLogger) Errorf(format string, args ...any) { c.logf(slog.LevelError, format, args...) }
