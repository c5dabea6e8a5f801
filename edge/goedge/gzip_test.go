package goedge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
)

// gzipNewlines is a gzip body of n newlines: a few KiB on the wire, n bytes once inflated,
// and 0 events.
func gzipNewlines(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(bytes.Repeat([]byte("\n"), n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postGzip sends body as a gzip NDJSON request of acme through the edge and returns the
// status and response body.
func (te *tlsEdge) postGzip(t *testing.T, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+te.addr+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+te.key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := te.h2Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 12, defect 6, through the Go edge (the filter's own tests drive it through a fake
// host): the bytes a gzip body inflates to count against the edge's in-flight bound and are
// charged to the tenant's bytes quota, so a small compressed body cannot cost unbounded memory
// or pass the quota as a few KiB. Before the fix both bodies were forwarded.
func TestGoEdgeBoundsGzipBodiesByTheirDecompressedSize(t *testing.T) {
	t.Run("in-flight bound", func(t *testing.T) {
		te := newTLSEdgeWith(t, Config{TenantShare: 1}, registry.Quotas{}, func(c *xds.Config) { c.Edge.MaxInFlightBytes, c.Edge.MaxRequestBodyBytes = 4<<20, 1<<20 })
		bomb := gzipNewlines(t, 10<<20)
		code, body := te.postGzip(t, bomb)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "decompressed") {
			t.Errorf("a %d-byte gzip body inflating to 10 MiB under a 4 MiB in-flight bound: %d %s, want 503 naming decompressed bytes", len(bomb), code, body)
		}
		if n := te.up.count(); n != 0 {
			t.Errorf("%d requests reached the upstream", n)
		}
	})
	t.Run("bytes quota", func(t *testing.T) {
		te := newTLSEdgeWith(t, Config{}, registry.Quotas{EventsPerSecond: 1000, BytesPerSecond: 1 << 20, BurstBytes: 2 << 20}, nil)
		bomb := gzipNewlines(t, 3<<20)
		code, body := te.postGzip(t, bomb)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "once decompressed") {
			t.Errorf("a %d-byte gzip body inflating past the 2 MiB bytes burst: %d %s, want 413 naming the decompressed size", len(bomb), code, body)
		}
		if n := te.up.count(); n != 0 {
			t.Errorf("%d requests reached the upstream", n)
		}
	})
}
