package registry

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// MaxEndpointsPerCluster bounds the endpoints of each of ingest-v1 and ingest-v2.
const MaxEndpointsPerCluster = 256

// Validate checks both endpoint lists: a host name or IP address, a port from 1 to 65535, no
// duplicates, at most MaxEndpointsPerCluster each. Empty lists are allowed (the cluster then
// has no endpoint and the edge answers 503 for traffic routed to it). Errors name the field as
// "ingest_v1[i].host".
func (u Upstreams) Validate() error {
	for _, c := range []struct {
		name string
		eps  []Endpoint
	}{{"ingest_v1", u.V1}, {"ingest_v2", u.V2}} {
		if len(c.eps) > MaxEndpointsPerCluster {
			return &ValidationError{Field: c.name, Msg: fmt.Sprintf("%d endpoints exceed the limit of %d", len(c.eps), MaxEndpointsPerCluster)}
		}
		seen := map[Endpoint]bool{}
		for i, e := range c.eps {
			field := fmt.Sprintf("%s[%d]", c.name, i)
			if !validHost(e.Host) {
				return &ValidationError{Field: field + ".host", Msg: fmt.Sprintf("%q must be a DNS name or an IP address", e.Host)}
			}
			if e.Port < 1 || e.Port > 65535 {
				return &ValidationError{Field: field + ".port", Msg: fmt.Sprintf("%d must be from 1 to 65535", e.Port)}
			}
			if seen[e] {
				return &ValidationError{Field: field, Msg: fmt.Sprintf("%s is listed twice", net.JoinHostPort(e.Host, fmt.Sprint(e.Port)))}
			}
			seen[e] = true
		}
	}
	return nil
}

// validHost accepts an IP address or a DNS name of letters, digits, '-' and '.' (labels of
// 1 to 63 characters, 253 in all).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// SetUpstreams replaces the endpoints of ingest-v1 and ingest-v2 at expected revision rev
// (the Revision of the Upstreams last read; 0 means unconditional, which is also what the
// first set, of upstreams never set, matches) and records "upstreams.set". u.Revision is
// ignored. Setting the same endpoints changes nothing.
func (r *Registry) SetUpstreams(ctx context.Context, actor string, rev int64, u Upstreams) (Upstreams, error) {
	if err := validateRevision(rev); err != nil {
		return Upstreams{}, fmt.Errorf("cannot set upstreams: %w", err)
	}
	if err := u.Validate(); err != nil {
		return Upstreams{}, fmt.Errorf("cannot set upstreams: %w", err)
	}
	var out Upstreams
	err := r.mutate(ctx, actor, func(st *memState, newRev int64, _ time.Time) (change, error) {
		cur := st.upstreams
		if rev != 0 && rev != cur.Revision {
			return change{}, &ConflictError{Object: "upstreams", Expected: rev, Current: cur.Revision}
		}
		if slices.Equal(cur.V1, u.V1) && slices.Equal(cur.V2, u.V2) && cur.Revision != 0 {
			out = cloneUpstreams(cur)
			return change{noop: true}, nil
		}
		next := Upstreams{V1: slices.Clone(u.V1), V2: slices.Clone(u.V2), Revision: newRev}
		if next.V1 == nil {
			next.V1 = []Endpoint{}
		}
		if next.V2 == nil {
			next.V2 = []Endpoint{}
		}
		out = cloneUpstreams(next)
		var before any
		if cur.Revision != 0 {
			before = cur
		}
		return change{action: ActionUpstreamsSet, upstreams: &next, before: before, after: next,
			summary: fmt.Sprintf("upstreams: ingest-v1 %d endpoints, ingest-v2 %d endpoints", len(next.V1), len(next.V2))}, nil
	})
	if err != nil {
		return Upstreams{}, fmt.Errorf("cannot set upstreams: %w", err)
	}
	return out, nil
}
