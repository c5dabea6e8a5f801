package filterconfig

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/tenant"
)

// Validate reports every problem of the configuration at once (errors.Join), each naming the
// field at fault and the bound it broke. It does not modify c.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	tenants := make(map[string]bool, len(c.Tenants))
	for i, t := range c.Tenants {
		if !tenant.Valid(t.ID) {
			add("tenants[%d].id %q must match %s (%s)", i, t.ID, tenant.Pattern, tenant.Rule)
		}
		if tenants[t.ID] {
			add("tenants[%d].id %q is a duplicate", i, t.ID)
		}
		tenants[t.ID] = true
		for _, q := range []struct {
			name string
			v    float64
		}{
			{"events_per_second", t.Quotas.EventsPerSecond},
			{"bytes_per_second", t.Quotas.BytesPerSecond},
			{"burst_events", t.Quotas.BurstEvents},
			{"burst_bytes", t.Quotas.BurstBytes},
		} {
			if math.IsNaN(q.v) || math.IsInf(q.v, 0) || q.v < 0 || q.v > MaxExactInt {
				add("tenants[%d] (%q).quotas.%s %v must be a finite number from 0 to 2^53", i, t.ID, q.name, q.v)
			}
		}
	}

	for prefix, keys := range c.Keys {
		if !validPrefix(prefix) {
			add("keys[%q]: prefix must be 1 to %d characters of [A-Za-z0-9_-]", prefix, MaxPrefixLen)
		}
		if len(keys) == 0 {
			add("keys[%q] has no keys; leave the prefix out instead", prefix)
		}
		for i, k := range keys {
			at := fmt.Sprintf("keys[%q][%d]", prefix, i)
			if !tenants[k.Tenant] {
				add("%s.tenant %q is not in tenants", at, k.Tenant)
			}
			if len(k.Salt) < MinSaltLen || len(k.Salt) > MaxSaltLen {
				add("%s.salt has %d bytes, want %d to %d", at, len(k.Salt), MinSaltLen, MaxSaltLen)
			}
			if len(k.Hash) != HashLen {
				add("%s.hash has %d bytes, want %d (SHA-256)", at, len(k.Hash), HashLen)
			}
			if len(k.ID) > 128 {
				add("%s.id has %d bytes, want at most 128", at, len(k.ID))
			}
			if k.NotAfter != nil && k.NotAfter.IsZero() {
				add("%s.not_after is the zero time; leave it out for a key without expiry", at)
			}
			for j := range i {
				if keys[j].Tenant == k.Tenant && bytes.Equal(keys[j].Hash, k.Hash) && bytes.Equal(keys[j].Salt, k.Salt) {
					add("%s duplicates keys[%q][%d]", at, prefix, j)
				}
			}
		}
	}

	l := c.Limits
	if l.MaxInFlightBytes < 1 || l.MaxInFlightBytes > MaxExactInt {
		add("limits.max_in_flight_bytes %d must be from 1 to 2^53", l.MaxInFlightBytes)
	}
	if l.MaxRequestBodyBytes < 1 || l.MaxRequestBodyBytes > l.MaxInFlightBytes {
		add("limits.max_request_body_bytes %d must be from 1 to limits.max_in_flight_bytes (%d)", l.MaxRequestBodyBytes, l.MaxInFlightBytes)
	}
	if l.DefaultRetryAfterSeconds < 1 || l.DefaultRetryAfterSeconds > MaxRetryAfterSeconds {
		add("limits.default_retry_after_seconds %d must be from 1 to %d", l.DefaultRetryAfterSeconds, MaxRetryAfterSeconds)
	}

	switch {
	case c.ReportURL == "":
		if c.ReportToken != "" {
			add("report_token is set without report_url; set both, or neither to turn reporting off")
		}
	default:
		if u, err := url.Parse(c.ReportURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("report_url %q must be an http or https URL with a host and no query", c.ReportURL)
		}
		if c.ReportToken == "" {
			add("report_token is required with report_url")
		}
	}
	if len(c.ReportToken) > MaxReportTokenLen {
		add("report_token has %d bytes, want at most %d", len(c.ReportToken), MaxReportTokenLen)
	}
	if c.ReportInterval != "" {
		if d, err := time.ParseDuration(c.ReportInterval); err != nil || d < MinReportInterval || d > MaxReportInterval {
			add("report_interval %q must be a duration from %v to %v", c.ReportInterval, MinReportInterval, MaxReportInterval)
		}
	}

	if len(c.HopKey) > 0 && (len(c.HopKey) < hopauth.MinKeyBytes || len(c.HopKey) > hopauth.MaxKeyBytes) {
		add("hop_key has %d bytes, want %d to %d (or none)", len(c.HopKey), hopauth.MinKeyBytes, hopauth.MaxKeyBytes)
	}

	switch {
	case !validHeaderName(c.MarkerHeader):
		add("marker_header %q must be a lower-case header name", c.MarkerHeader)
	case !strings.HasPrefix(c.MarkerHeader, InternalHeaderPrefix):
		add("marker_header %q must start with %q so that client copies are stripped", c.MarkerHeader, InternalHeaderPrefix)
	case c.MarkerHeader == HeaderIngestVersion || c.MarkerHeader == HeaderEventCount:
		add("marker_header %q is already used for another purpose", c.MarkerHeader)
	}
	return errors.Join(errs...)
}

// ReportIntervalOrDefault returns ReportInterval as a duration: 0 when empty (the reporter's
// default) or invalid (Validate refuses it).
func (c *Config) ReportIntervalOrDefault() time.Duration {
	d, err := time.ParseDuration(c.ReportInterval)
	if err != nil {
		return 0
	}
	return d
}

// ValidTenantID reports whether id is a valid tenant id (tenant.Valid: the registry's syntax,
// [a-z0-9][a-z0-9-]{0,62}).
func ValidTenantID(id string) bool { return tenant.Valid(id) }

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > MaxPrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validHeaderName(h string) bool {
	if len(h) < 1 || len(h) > 128 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
