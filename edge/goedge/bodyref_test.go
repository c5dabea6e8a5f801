package goedge

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/testkit"
)

// TestBodyRefReleasesOnceAfterTheLastReader: the buffer goes back only when the request and
// every attempt (until the transport closes its body, however often) are done.
func TestBodyRefReleasesOnceAfterTheLastReader(t *testing.T) {
	var released atomic.Int32
	ref := newBodyRef(func() { released.Add(1) })
	a, err := upstreamRequest(context.Background(), "127.0.0.1:1", "POST", "/v1/events", "h", http.Header{}, []byte("body"), ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := upstreamRequest(context.Background(), "127.0.0.1:1", "POST", "/v1/events", "h", http.Header{}, []byte("body"), ref)
	if err != nil {
		t.Fatal(err)
	}
	ref.done() // the request is answered; two attempts still hold the body
	_ = a.Body.Close()
	_ = a.Body.Close() // a transport may close twice: one reference only
	if released.Load() != 0 {
		t.Fatal("released while an attempt still held the body")
	}
	_ = b.Body.Close()
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times, want once after the last reader", n)
	}
	var nilRef *bodyRef // a body that is not pooled
	nilRef.acquire()
	nilRef.done()
}

// TestAMirrorHoldsTheBodyUntilItEnds: the main request is answered while its mirror hangs; the
// body must not be released (and reused by other requests) until the mirror's exchange ended.
func TestAMirrorHoldsTheBodyUntilItEnds(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "beta", stage: "shadow", prefix: "aaaaaaab"})
	hang := make(chan struct{})
	p.v2.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	s := p.e.snap.Load()
	var released atomic.Bool
	fwd := &forward{method: "POST", path: "/v1/events", host: "edge.example", header: http.Header{}, body: []byte(event),
		ref: newBodyRef(func() { released.Store(true) })}
	p.e.mirror(s, &mirrorPolicy{cluster: "ingest-v2", percent: 100}, fwd, 10*time.Second)
	fwd.ref.done() // the main request is answered
	select {
	case <-p.v2.got:
	case <-time.After(5 * time.Second):
		t.Fatal("the mirror never arrived")
	}
	time.Sleep(50 * time.Millisecond)
	if released.Load() {
		t.Fatal("the body was released while the mirror's exchange was still going")
	}
	close(hang)
	testkit.Eventually(t, 5*time.Second, "the release once the mirror ended", released.Load)
}
