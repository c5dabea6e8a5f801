package goedge

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
)

// cpuTime returns the CPU time (user + system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure sends n requests with do, one after the other, and returns the median and 99th
// percentile latency and the process CPU time per request.
func measure(b *testing.B, n int, do func() error) (p50, p99, cpu time.Duration) {
	lat := make([]time.Duration, n)
	c0 := cpuTime(b)
	for i := range lat {
		t0 := time.Now()
		if err := do(); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	cpu = (cpuTime(b) - c0) / time.Duration(n)
	slices.Sort(lat)
	return lat[n/2], lat[n*99/100], cpu
}

// BenchmarkEdgeAddedLatency measures what the Go edge adds to a request: the same POST sent
// directly to a trivial upstream over loopback HTTP/1.1 keep-alive, and through the edge
// (TLS 1.3, HTTP/1.1 keep-alive, the edge filter authenticating and counting events, route
// match, proxy with connection reuse). It reports, per request, the median and p99 latency of
// both paths, their difference (added-p50-ns, added-p99-ns) and the difference in process
// CPU time (added-cpu-ns: client, edge and upstream all run in this process, so the
// difference is the edge's share).
//
//	go test -run '^$' -bench BenchmarkEdgeAddedLatency -benchtime 5000x ./edge/
func BenchmarkEdgeAddedLatency(b *testing.B) {
	for _, events := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = w.Write([]byte(`{"partialSuccess":{}}`))
			}))
			defer up.Close()
			host, port, _ := strings.Cut(up.Listener.Addr().String(), ":")
			var p uint32
			_, _ = fmt.Sscan(port, &p)
			st, keys := testState(b, []registry.Endpoint{{Host: host, Port: p}}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
			e, _ := newTestEdge(b, Config{})
			feed(b, e, buildResources(b, st, nil))

			certPEM, keyPEM := selfSigned(b, "edge.example")
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(e.newHTTPServer().Handler) // with the body idle timeout
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			srv.StartTLS()
			defer srv.Close()
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(certPEM)

			body := bytes.Repeat([]byte(event), events)
			client := func(tlsConf *tls.Config) *http.Client {
				return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, MaxIdleConnsPerHost: 4,
					TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
			}
			post := func(c *http.Client, url string) func() error {
				return func() error {
					req, _ := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/x-ndjson")
					req.Header.Set("Authorization", "Bearer "+keys["acme"])
					resp, err := c.Do(req)
					if err != nil {
						return err
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						return fmt.Errorf("status %d", resp.StatusCode)
					}
					return nil
				}
			}
			direct := post(client(nil), up.URL)
			viaEdge := post(client(&tls.Config{RootCAs: pool, ServerName: "edge.example"}), srv.URL)
			for i := 0; i < 200; i++ { // warm up connections, pools and the filter's state
				_ = direct()
				_ = viaEdge()
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			d50, d99, dcpu := measure(b, b.N, direct)
			e50, e99, ecpu := measure(b, b.N, viaEdge)
			b.StopTimer()
			b.ReportMetric(float64(d50.Nanoseconds()), "direct-p50-ns")
			b.ReportMetric(float64(e50.Nanoseconds()), "edge-p50-ns")
			b.ReportMetric(float64((e50 - d50).Nanoseconds()), "added-p50-ns")
			b.ReportMetric(float64((e99 - d99).Nanoseconds()), "added-p99-ns")
			b.ReportMetric(float64(dcpu.Nanoseconds()), "direct-cpu-ns")
			b.ReportMetric(float64((ecpu - dcpu).Nanoseconds()), "added-cpu-ns")
		})
	}
}
