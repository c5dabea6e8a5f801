package xds

import (
	"context"
	"net"
	"testing"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// TestBareSnapshotCacheResendsARejectedSnapshotInALoop pins the go-control-plane behaviour
// (issue #962) that the server's NACK fallback exists for: without it, a SotW NACK is
// answered with the same rejected version at once, again and again. If this test starts
// failing, upstream fixed the loop and the fallback can be reconsidered.
func TestBareSnapshotCacheResendsARejectedSnapshotInALoop(t *testing.T) {
	if testing.Short() {
		t.Skip("spins a resend loop for a moment")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := cache.NewSnapshotCache(true, cache.IDHash{}, nil)
	st := stateWith(t, map[string]string{"evil": "v2"})
	snap := mustBuild(t, testConfig(), Input{State: st, Cert: testCert(), Now: testNow()})
	if err := c.SetSnapshot(ctx, "edge-1", snap); err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, c, serverv3.CallbackFuncs{}))
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := newFakeEnvoy(t, "edge-1", false)
	f.reject = rejectV2For("evil")
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(fctx, conn)
	}()
	// One rejected version answered 50 times: a loop. (With the server's fallback it is once.)
	start := time.Now()
	f.waitFor(10*time.Second, "50 resends of the rejected routes (the go-control-plane resend loop)", func(ts map[string]*fakeType) bool {
		return ts[resource.RouteType].nacks >= 50
	})
	t.Logf("bare cache: 50 rejected route responses in %v", time.Since(start))
	fcancel()
	<-done
}
