package goedge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"

	"github.com/ingestdev/ingest/internal/backoff"
)

// maxXDSMessageBytes bounds one xDS response (the listener carries every tenant's key
// hashes).
const maxXDSMessageBytes = 64 << 20

// runADS keeps an ADS stream to the control plane (mutual TLS, see xdsCredentials) until ctx is done, reconnecting with
// exponential backoff and full jitter (backoff.Policy from xds_backoff_base to
// xds_backoff_max; the count restarts after a stream that got a response). The last applied configuration keeps serving while
// the control plane is away.
func (e *Edge) runADS(ctx context.Context) {
	if e.cfg.XDSInsecure {
		e.log.Warn("xDS client runs WITHOUT TLS (edge.xds_insecure): the edge takes its configuration from whatever answers at the address and authenticates nothing",
			"xds", e.cfg.XDSAddress)
	}
	conn, err := grpc.NewClient(e.cfg.XDSAddress,
		grpc.WithTransportCredentials(e.xdsCreds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxXDSMessageBytes)),
	)
	if err != nil {
		// Only a malformed target fails here, and Validate checked it.
		e.log.Error("cannot create the xDS client; the edge gets no configuration", "xds", e.cfg.XDSAddress, "err", err)
		return
	}
	defer conn.Close()
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)
	policy := backoff.Policy{Min: e.cfg.XDSBackoffBase, Max: e.cfg.XDSBackoffMax}
	attempt := 0 // failed streams since the last one that got a response
	for {
		got, err := e.adsStream(ctx, client)
		e.m.xdsConnected.Set(0)
		if ctx.Err() != nil {
			return
		}
		if got {
			attempt = 0
		}
		wait := policy.DelayFrom(attempt, e.rand())
		e.log.Warn("xDS stream ended; reconnecting", "xds", e.cfg.XDSAddress, "err", err, "in", wait.Round(time.Millisecond))
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
		attempt++
	}
}

// adsStream runs one state-of-the-world ADS stream as Envoy does: CDS and LDS as wildcards,
// then EDS, RDS, SDS and ECDS by the names the accepted clusters and listener reference; every
// response ACKed with its version and nonce, or NACKed with the last accepted version and an
// error_detail (the last good configuration stays). It reports whether any response arrived.
func (e *Edge) adsStream(ctx context.Context, client discovery.AggregatedDiscoveryServiceClient) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.StreamAggregatedResources(sctx)
	if err != nil {
		return false, fmt.Errorf("cannot open ADS stream to %q: %w", e.cfg.XDSAddress, err)
	}
	node := &core.Node{Id: e.cfg.NodeID, Cluster: e.cfg.NodeCluster, UserAgentName: "ingest-edge"}
	first := true
	send := func(req *discovery.DiscoveryRequest) error {
		if first {
			req.Node, first = node, false
		}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("cannot send %s request: %w", shortType(req.GetTypeUrl()), err)
		}
		return nil
	}
	// A new stream starts from scratch: no nonces, and no versions (a restarted control
	// plane numbers its versions anew, so an old version could name different resources).
	for _, t := range xdsTypes {
		ts := e.store.types[t]
		ts.nonce = ""
		if ts.subscribed != nil && len(ts.subscribed) == 0 {
			continue // a named type nothing references yet
		}
		if err := send(&discovery.DiscoveryRequest{TypeUrl: t, ResourceNames: ts.subscribed}); err != nil {
			return false, err
		}
	}
	e.m.xdsConnected.Set(1)
	e.log.Info("xDS stream open", "xds", e.cfg.XDSAddress, "node", e.cfg.NodeID)
	got := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			return got, fmt.Errorf("ADS stream from %q: %w", e.cfg.XDSAddress, err)
		}
		got = true
		for _, req := range e.handleResponse(resp) {
			if err := send(req); err != nil {
				return got, err
			}
		}
	}
}

// handleResponse applies one response and returns the requests to send: new subscriptions
// of dependent types first (as Envoy), then the ACK or NACK.
func (e *Edge) handleResponse(resp *discovery.DiscoveryResponse) []*discovery.DiscoveryRequest {
	typ := resp.GetTypeUrl()
	ts, known := e.store.types[typ]
	if !known {
		e.m.xdsUpdates.WithLabelValues("unknown", "rejected").Inc()
		e.log.Warn("xDS response of a type the edge did not ask for rejected", "type_url", typ)
		return []*discovery.DiscoveryRequest{{TypeUrl: typ, ResponseNonce: resp.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "the Go edge does not subscribe to " + typ}}}
	}
	ts.nonce = resp.GetNonce()
	subs, err := e.store.apply(typ, resp.GetVersionInfo(), resp.GetResources())
	if err != nil {
		e.m.xdsUpdates.WithLabelValues(shortType(typ), "rejected").Inc()
		// A control plane may resend a rejected version at once, in a loop (go-control-plane
		// issue #962): every NACK is counted, the same rejection logged once.
		level := slog.LevelError
		if rej := resp.GetVersionInfo() + "\x00" + err.Error(); ts.rejected == rej {
			level = slog.LevelDebug
		} else {
			ts.rejected = rej
		}
		e.log.Log(context.Background(), level, "xDS update rejected (NACK); the last good configuration stays",
			"type", shortType(typ), "version", resp.GetVersionInfo(), "accepted_version", ts.version, "err", err)
		return []*discovery.DiscoveryRequest{{
			TypeUrl: typ, VersionInfo: ts.version, ResponseNonce: resp.GetNonce(), ResourceNames: ts.subscribed,
			ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
		}}
	}
	ts.rejected = ""
	e.m.xdsUpdates.WithLabelValues(shortType(typ), "applied").Inc()
	e.m.setVersion(shortType(typ), resp.GetVersionInfo())
	e.log.Info("xDS update accepted", "type", shortType(typ), "version", resp.GetVersionInfo(), "resources", len(resp.GetResources()))
	var reqs []*discovery.DiscoveryRequest
	for _, t := range xdsTypes {
		if names, ok := subs[t]; ok {
			dt := e.store.types[t]
			reqs = append(reqs, &discovery.DiscoveryRequest{TypeUrl: t, VersionInfo: dt.version, ResponseNonce: dt.nonce, ResourceNames: names})
		}
	}
	reqs = append(reqs, &discovery.DiscoveryRequest{TypeUrl: typ, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: ts.subscribed})
	e.reassemble()
	return reqs
}

// reassemble installs the accepted resources as the current configuration when they are
// complete; otherwise the previous configuration stays (Envoy's warming).
func (e *Edge) reassemble() {
	p, why := e.store.complete(e.fileCert != nil)
	if p == nil {
		e.log.Info("xDS configuration not complete yet; the previous one stays", "reason", why)
		return
	}
	if cur := e.snap.Load(); cur != nil && sameParts(cur, p) {
		return
	}
	s := e.install(p)
	args := []any{"listener", s.listener.name, "routes", s.routes.name, "clusters", len(s.clusters)}
	for _, t := range xdsTypes {
		args = append(args, shortType(t), s.versions[t])
	}
	if s.filter == nil {
		e.log.Error("the listener's golang filter is not the edge filter: requests pass unfiltered and the routes fail closed",
			"plugin_name", s.pluginName, "want", e.filter.pluginName)
	}
	e.log.Info("edge configuration applied", args...)
}

// sameParts reports whether p holds exactly the compiled resources s was built from (a
// response that changed nothing the edge serves, such as an unreferenced resource).
func sameParts(s *snapshot, p *parts) bool {
	if s.listener != p.listener || s.routes != p.routes || s.cert != p.cert || len(s.clusters) != len(p.clusters) {
		return false
	}
	if p.filter != nil && (s.filter != p.filter.filter || s.pluginName != p.filter.pluginName) || p.filter == nil && s.pluginName != "" {
		return false
	}
	for name, c := range p.clusters {
		u, ok := s.clusters[name]
		if !ok || u.cfg != c || !sameStrings(u.endpoints, p.endpoints[name]) {
			return false
		}
	}
	return true
}

// sameStrings compares by identity of the backing array, as compiled endpoint lists are
// never modified.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}
