package filterconfig

import (
	"crypto/sha256"
	"crypto/subtle"
	"time"
)

// Names shared by the control plane, the golang filter configuration and the filter.
const (
	// PluginName is the plugin_name of the golang filter configuration and the name the filter
	// registers with RegisterHttpFilterFactoryAndConfigParser. A mismatch makes Envoy pass traffic
	// through the filter unaccounted (fail open), so the control plane checks it on every push.
	PluginName = "ingest-edge"

	// LibraryID is the library_id of the golang filter configuration. Envoy loads one .so per
	// library_id and never unloads it, so every Go filter of this project lives in one library.
	LibraryID = "ingest-edge"

	// DefaultLibraryPath is where the edge image puts the filter's shared object (library_path).
	DefaultLibraryPath = "/etc/envoy/ingest-edge.so"

	// TypeURL names the schema of [Config] in the TypedStruct that carries it. A change that old
	// filters cannot parse gets a new version here.
	TypeURL = "type.googleapis.com/ingestdev.ingest.edge.v1.Config"

	// TypedStructTypeURL is the type URL of the Any that Parse accepts.
	TypedStructTypeURL = "type.googleapis.com/xds.type.v3.TypedStruct"
)

// The upstream clusters of the edge (the control plane's xds.ClusterV1 and xds.ClusterV2):
// the filter tells from StreamInfo().UpstreamClusterName() which one answered a request.
const (
	ClusterV1 = "ingest-v1"
	ClusterV2 = "ingest-v2"
)

// Headers the edge sets and the services behind it trust only from the edge. Client copies are
// stripped twice: by the HTTP connection manager's early header mutation before routing (exact
// names, see [InternalHeaders]) and by the filter in DecodeHeaders (every name with the
// [InternalHeaderPrefix] as well).
const (
	// HeaderTenantID carries the tenant the filter derived from the credentials.
	HeaderTenantID = "x-tenant-id"
	// HeaderIngestVersion is "v2" on requests routed to ingest-v2.
	HeaderIngestVersion = "x-ingest-version"
	// HeaderEventCount carries the number of events the edge accounted for the request.
	HeaderEventCount = "x-ingest-event-count"
	// InternalHeaderPrefix starts every other internal header.
	InternalHeaderPrefix = "x-ingest-"
	// HeaderHopAuth carries the filter's signature over the tenant and event count
	// (hopauth.Header); set on every admitted request when [Config.HopKey] is set.
	HeaderHopAuth = "x-ingest-hop-auth"

	// DefaultMarkerHeader is the header the filter sets on every request it admitted; tenant
	// routes match on it, so without an active filter no request matches a tenant route.
	DefaultMarkerHeader = "x-ingest-edge"
	// MarkerValue is the value of the marker header.
	MarkerValue = "1"
)

// InternalHeaders returns the exact names of the internal headers a client must never set:
// [HeaderTenantID], [HeaderIngestVersion], [HeaderEventCount] and [DefaultMarkerHeader]. It
// returns a new slice on every call.
func InternalHeaders() []string {
	return []string{HeaderTenantID, HeaderIngestVersion, HeaderEventCount, DefaultMarkerHeader}
}

// Bounds enforced by [Config.Validate].
const (
	// HashLen is the length of a key hash: SHA-256(salt || key).
	HashLen = sha256.Size
	// MinSaltLen and MaxSaltLen bound a key's salt, in bytes.
	MinSaltLen = 8
	MaxSaltLen = 64
	// MaxPrefixLen bounds a key prefix, in bytes.
	MaxPrefixLen = 64
	// MaxExactInt is the largest integer a Struct number carries exactly (2^53).
	MaxExactInt = 1 << 53
	// MaxRetryAfterSeconds bounds Limits.DefaultRetryAfterSeconds.
	MaxRetryAfterSeconds = 3600
	// MaxReportTokenLen bounds Config.ReportToken, in bytes.
	MaxReportTokenLen = 512
	// MinReportInterval and MaxReportInterval bound Config.ReportInterval.
	MinReportInterval = 100 * time.Millisecond
	MaxReportInterval = time.Minute
)

// Config is the edge filter's configuration: what the control plane sends in the golang
// filter's plugin_config. A parsed Config is immutable by convention: Envoy rebuilds it on every
// xDS push and shares it between worker threads, so state that must outlive a push (token
// buckets) lives outside it, keyed by tenant ID.
type Config struct {
	// Tenants are the known tenants with their quotas. IDs are unique; Encode and Parse sort
	// them by ID.
	Tenants []Tenant `json:"tenants"`
	// Keys maps a key prefix (the public part of an API key) to the candidate keys with that
	// prefix. Only keys that are not revoked, or revoked in the future (then with NotAfter), are
	// present. A nil map means no key is valid.
	Keys map[string][]Key `json:"keys"`
	// Limits are the edge-wide limits.
	Limits Limits `json:"limits"`
	// MarkerHeader is the header the filter sets to [MarkerValue] on every request it admits.
	// It must start with [InternalHeaderPrefix]; the default is [DefaultMarkerHeader].
	MarkerHeader string `json:"marker_header"`

	// ReportURL is the control plane's base URL (http or https, no query) to which the filter
	// sends its parity reports (package migration/report): the answers ingest-v1 and ingest-v2 gave
	// every admitted request, per tenant (the control plane keeps those of tenants in a cutover). Empty:
	// the filter reports nothing. The report fields are left out of the encoding when empty,
	// so that a filter that predates them still parses a configuration without reporting.
	ReportURL string `json:"report_url,omitempty"`
	// ReportToken is the report bearer token, at most [MaxReportTokenLen] bytes; required
	// with ReportURL and not allowed without it.
	ReportToken string `json:"report_token,omitempty"`
	// ReportInterval is how often the filter reports, in Go duration syntax ("1s"), from
	// [MinReportInterval] to [MaxReportInterval]. Empty: 1 s.
	ReportInterval string `json:"report_interval,omitempty"`

	// HopKey is the key the filter signs every admitted request with (package hopauth,
	// [HeaderHopAuth]: the tenant and event count it sets), so that the normalizers trust
	// them; hopauth.MinKeyBytes to hopauth.MaxKeyBytes bytes, base64 in JSON. Empty: the
	// filter signs nothing, and normalizers that verify (the default) refuse its requests
	// with 401. Left out of the encoding when empty.
	HopKey []byte `json:"hop_key,omitempty"`
}

// Tenant is one tenant's entry in the quota table.
type Tenant struct {
	// ID matches [a-z0-9][a-z0-9-]{0,62}; it is the value of x-tenant-id.
	ID string `json:"id"`
	// Quotas are the tenant's admission limits.
	Quotas Quotas `json:"quotas"`
}

// Quotas are a tenant's admission limits at the edge. Every value is finite and >= 0. A zero
// rate means unlimited; a zero burst means one second of the rate.
type Quotas struct {
	// EventsPerSecond is the sustained event rate.
	EventsPerSecond float64 `json:"events_per_second"`
	// BytesPerSecond is the sustained rate of request body bytes: the decompressed size of a gzip
	// body the filter counts, the size as received otherwise.
	BytesPerSecond float64 `json:"bytes_per_second"`
	// BurstEvents is the event token bucket size.
	BurstEvents float64 `json:"burst_events"`
	// BurstBytes is the byte token bucket size.
	BurstBytes float64 `json:"burst_bytes"`
}

// Key is one candidate API key of a prefix.
type Key struct {
	// ID identifies the key in logs and audit records; it is not secret. Optional.
	ID string `json:"id,omitempty"`
	// Tenant is the ID of the tenant the key belongs to; it must be in Config.Tenants.
	Tenant string `json:"tenant"`
	// Salt is the per-key salt, [MinSaltLen] to [MaxSaltLen] bytes.
	Salt []byte `json:"salt"`
	// Hash is SHA-256(Salt || key), [HashLen] bytes.
	Hash []byte `json:"hash"`
	// NotAfter, when set, is the instant the key stops being valid (a revocation scheduled by a
	// rotation). Nil means valid until removed from the configuration.
	NotAfter *time.Time `json:"not_after,omitempty"`
}

// Matches reports, in constant time with respect to the key material, whether key is the
// secret this Key was hashed from.
func (k Key) Matches(key string) bool {
	h := HashKey(k.Salt, key)
	return subtle.ConstantTimeCompare(h[:], k.Hash) == 1
}

// ActiveAt reports whether the key is valid at t: NotAfter is nil or after t.
func (k Key) ActiveAt(t time.Time) bool {
	return k.NotAfter == nil || t.Before(*k.NotAfter)
}

// Limits are the edge-wide limits, shared by all tenants.
type Limits struct {
	// MaxInFlightBytes bounds the request bytes the filter holds at once across all requests;
	// above it the edge answers 503 with Retry-After. 1 to 2^53.
	MaxInFlightBytes int64 `json:"max_in_flight_bytes"`
	// MaxRequestBodyBytes bounds one request body; above it the edge answers 413.
	// 1 to MaxInFlightBytes.
	MaxRequestBodyBytes int64 `json:"max_request_body_bytes"`
	// DefaultRetryAfterSeconds is the Retry-After the edge sends with a 429 or 503 when no
	// better estimate exists. 1 to [MaxRetryAfterSeconds].
	DefaultRetryAfterSeconds int64 `json:"default_retry_after_seconds"`
}

// TenantByID returns the tenant with the given ID. It scans the list; the filter builds its own
// index once per push.
func (c *Config) TenantByID(id string) (Tenant, bool) {
	for _, t := range c.Tenants {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}
