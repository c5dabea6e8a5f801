package loadgen

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

func TestClickHouseVisibilityFindsOnlyTheTenantsVisibleMarkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ClickHouse server")
	}
	srv := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, srv.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	batch, err := srv.Conn().PrepareBatch(ctx, "INSERT INTO ingest.logs (tenant, time, time_unix_nano, body)")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][2]string{{"acme", MarkerPrefix + "a1"}, {"acme", MarkerPrefix + "a2"}, {"globex", MarkerPrefix + "g1"}} {
		if err := batch.Append(row[0], now, now.UnixNano(), row[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	vis, err := NewClickHouseVisibility([]string{srv.Addr()}, "ingest", "default", "")
	if err != nil {
		t.Fatal(err)
	}
	defer vis.Close()
	if err := vis.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := vis.Visible(ctx, "acme", now, []string{MarkerPrefix + "a1", MarkerPrefix + "g1", MarkerPrefix + "zz"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{MarkerPrefix + "a1"}) {
		t.Errorf("visible %q, want only acme's a1", got)
	}
}
