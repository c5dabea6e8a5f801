package filterconfig

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func hashOf(salt []byte, key string) []byte {
	h := sha256.Sum256(append(append([]byte{}, salt...), key...))
	return h[:]
}

func validConfig() *Config {
	salt := []byte("salt-0123456789")
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Config{
		Tenants: []Tenant{
			{ID: "zeta", Quotas: Quotas{EventsPerSecond: 1000, BytesPerSecond: 1 << 20}},
			{ID: "acme", Quotas: Quotas{EventsPerSecond: 50000, BytesPerSecond: 64 << 20, BurstEvents: 100000, BurstBytes: 128 << 20}},
		},
		Keys: map[string][]Key{
			"ik_acme01": {
				{ID: "k2", Tenant: "acme", Salt: salt, Hash: hashOf(salt, "ik_acme01.secret2"), NotAfter: &notAfter},
				{ID: "k1", Tenant: "acme", Salt: salt, Hash: hashOf(salt, "ik_acme01.secret1")},
			},
			"ik_zeta01": {{ID: "k3", Tenant: "zeta", Salt: salt, Hash: hashOf(salt, "ik_zeta01.secret")}},
		},
		Limits:       Limits{MaxInFlightBytes: 256 << 20, MaxRequestBodyBytes: 8 << 20, DefaultRetryAfterSeconds: 1},
		MarkerHeader: DefaultMarkerHeader,
	}
}

// jsonAny wraps a JSON document the way Encode does, without validating it.
func jsonAny(t testing.TB, typeURL, js string) *anypb.Any {
	t.Helper()
	st := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(js), st); err != nil {
		t.Fatalf("bad test JSON %s: %v", js, err)
	}
	a, err := anypb.New(&xdstype.TypedStruct{TypeUrl: typeURL, Value: st})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const validJSON = `{
  "tenants": [{"id": "acme", "quotas": {"events_per_second": 10, "bytes_per_second": 0, "burst_events": 0, "burst_bytes": 0}}],
  "keys": {"ik_a": [{"tenant": "acme", "salt": "c2FsdHNhbHQ=", "hash": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}]},
  "limits": {"max_in_flight_bytes": 1000000, "max_request_body_bytes": 1000, "default_retry_after_seconds": 2},
  "marker_header": "x-ingest-edge"
}`

func TestEncodeThenParseRoundTrips(t *testing.T) {
	in := validConfig()
	a, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if a.GetTypeUrl() != TypedStructTypeURL {
		t.Fatalf("type URL %q, want %q", a.GetTypeUrl(), TypedStructTypeURL)
	}
	out, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{out.Tenants[0].ID, out.Tenants[1].ID}; got[0] != "acme" || got[1] != "zeta" {
		t.Errorf("tenants not sorted: %v", got)
	}
	acme, ok := out.TenantByID("acme")
	if !ok || acme.Quotas != in.Tenants[1].Quotas {
		t.Errorf("acme quotas = %+v, %v; want %+v", acme.Quotas, ok, in.Tenants[1].Quotas)
	}
	keys := out.Keys["ik_acme01"]
	if len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k2" {
		t.Fatalf("acme keys = %+v", keys)
	}
	if keys[1].NotAfter == nil || !keys[1].NotAfter.Equal(*in.Keys["ik_acme01"][0].NotAfter) {
		t.Errorf("not_after = %v", keys[1].NotAfter)
	}
	if !keys[0].Matches("ik_acme01.secret1") || keys[0].Matches("ik_acme01.secret2") {
		t.Error("Matches does not tell the right key from the wrong one")
	}
	if out.Limits != in.Limits || out.MarkerHeader != in.MarkerHeader {
		t.Errorf("limits/marker = %+v %q", out.Limits, out.MarkerHeader)
	}
	if in.Tenants[0].ID != "zeta" {
		t.Error("Encode modified its input")
	}
}

func TestEncodeIsDeterministic(t *testing.T) {
	cfg := validConfig()
	salt := []byte("0123456789abcdef")
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		cfg.Keys["ik_"+p] = []Key{{Tenant: "acme", Salt: salt, Hash: hashOf(salt, p)}}
	}
	first, err := Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := Encode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.GetValue(), again.GetValue()) {
			t.Fatal("two encodings of one config differ")
		}
	}
}

func TestEncodeRejectsInvalidConfig(t *testing.T) {
	cfg := validConfig()
	cfg.Tenants[0].Quotas.EventsPerSecond = -1
	if _, err := Encode(cfg); err == nil || !strings.Contains(err.Error(), "events_per_second") {
		t.Fatalf("Encode error = %v, want one about events_per_second", err)
	}
	if _, err := Encode(nil); err == nil {
		t.Fatal("Encode(nil) succeeded")
	}
}

func TestParseAcceptsHandWrittenJSON(t *testing.T) {
	cfg, err := Parse(jsonAny(t, TypeURL, validJSON))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxInFlightBytes != 1000000 || len(cfg.Keys["ik_a"][0].Hash) != HashLen {
		t.Fatalf("parsed %+v", cfg)
	}
}

func TestParseRejectsBadConfigs(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validJSON, old) {
			t.Fatalf("test bug: %q not in validJSON", old)
		}
		return strings.Replace(validJSON, old, new, 1)
	}
	tests := []struct {
		name string
		any  *anypb.Any
		want string
	}{
		{"nil", nil, "plugin_config is missing"},
		{"not a TypedStruct", func() *anypb.Any { a, _ := anypb.New(wrapperspb.String(validJSON)); return a }(), "want \"type.googleapis.com/xds.type.v3.TypedStruct\""},
		{"other type_url", jsonAny(t, "type.googleapis.com/other.Config", validJSON), "with type_url"},
		{"no value", func() *anypb.Any { a, _ := anypb.New(&xdstype.TypedStruct{TypeUrl: TypeURL}); return a }(), "value is missing"},
		{"garbage bytes", &anypb.Any{TypeUrl: TypedStructTypeURL, Value: []byte{0xff, 0xff}}, "cannot unmarshal"},
		{"unknown TypedStruct field", func() *anypb.Any {
			a := jsonAny(t, TypeURL, validJSON)
			a.Value = append(a.Value, 0x18, 0x01) // field 3, varint 1
			return a
		}(), "unknown fields"},
		{"unknown top-level field", jsonAny(t, TypeURL, replace(`"marker_header"`, `"extra": 1, "marker_header"`)), "unknown field \"extra\""},
		{"unknown nested field", jsonAny(t, TypeURL, replace(`"burst_bytes": 0`, `"burst_bytes": 0, "burst_kb": 1`)), "unknown field \"burst_kb\""},
		{"unknown key field", jsonAny(t, TypeURL, replace(`"tenant": "acme"`, `"tenant": "acme", "scope": "all"`)), "unknown field \"scope\""},
		{"duplicate tenant", jsonAny(t, TypeURL, replace(`"tenants": [`, `"tenants": [{"id": "acme", "quotas": {}}, `)), "duplicate"},
		{"bad tenant id", jsonAny(t, TypeURL, replace(`"id": "acme"`, `"id": "Acme"`)), "tenants[0].id \"Acme\""},
		{"negative quota", jsonAny(t, TypeURL, replace(`"events_per_second": 10`, `"events_per_second": -10`)), "events_per_second -10"},
		{"short hash", jsonAny(t, TypeURL, replace(`AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`, `AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==`)), "hash has 31 bytes, want 32"},
		{"short salt", jsonAny(t, TypeURL, replace(`c2FsdHNhbHQ=`, `c2FsdA==`)), "salt has 4 bytes"},
		{"bad base64", jsonAny(t, TypeURL, replace(`c2FsdHNhbHQ=`, `not base64!`)), "illegal base64"},
		{"unknown tenant key", jsonAny(t, TypeURL, replace(`"tenant": "acme"`, `"tenant": "other"`)), "tenant \"other\" is not in tenants"},
		{"fractional integer", jsonAny(t, TypeURL, replace(`"max_request_body_bytes": 1000`, `"max_request_body_bytes": 1000.5`)), "max_request_body_bytes"},
		{"body above in-flight", jsonAny(t, TypeURL, replace(`"max_request_body_bytes": 1000`, `"max_request_body_bytes": 2000000`)), "max_request_body_bytes 2000000"},
		{"zero retry-after", jsonAny(t, TypeURL, replace(`"default_retry_after_seconds": 2`, `"default_retry_after_seconds": 0`)), "default_retry_after_seconds 0"},
		{"marker outside prefix", jsonAny(t, TypeURL, replace(`"x-ingest-edge"`, `"x-edge"`)), "must start with \"x-ingest-\""},
		{"empty key list", jsonAny(t, TypeURL, replace(`"keys": {`, `"keys": {"ik_b": [], `)), "has no keys"},
		{"bad prefix", jsonAny(t, TypeURL, replace(`"ik_a"`, `"ik a"`)), "prefix must be"},
		{"not an object", jsonAny(t, TypeURL, `{"tenants": "acme"}`), "cannot decode"},
		{"report url not http", jsonAny(t, TypeURL, replace(`"marker_header"`, `"report_url": "ftp://cp", "report_token": "t", "marker_header"`)), "report_url \"ftp://cp\""},
		{"report url without token", jsonAny(t, TypeURL, replace(`"marker_header"`, `"report_url": "http://cp:9090", "marker_header"`)), "report_token is required"},
		{"report token without url", jsonAny(t, TypeURL, replace(`"marker_header"`, `"report_token": "t", "marker_header"`)), "without report_url"},
		{"report interval too short", jsonAny(t, TypeURL, replace(`"marker_header"`, `"report_url": "http://cp", "report_token": "t", "report_interval": "1ms", "marker_header"`)), "report_interval \"1ms\""},
		{"observed not a bool", jsonAny(t, TypeURL, replace(`"id": "acme"`, `"id": "acme", "observed": "yes"`)), "cannot decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.any)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	cfg := validConfig()
	cfg.Tenants = append(cfg.Tenants, cfg.Tenants[0])
	cfg.Keys["ik_zeta01"][0].Hash = []byte("short")
	cfg.Limits.DefaultRetryAfterSeconds = 0
	err := cfg.Validate()
	for _, want := range []string{"duplicate", "hash has 5 bytes", "default_retry_after_seconds 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestKeyActiveAt(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := Key{NotAfter: &at}
	if !k.ActiveAt(at.Add(-time.Second)) || k.ActiveAt(at) || k.ActiveAt(at.Add(time.Second)) {
		t.Error("ActiveAt does not stop at NotAfter")
	}
	if !(Key{}).ActiveAt(at) {
		t.Error("a key without NotAfter is not active")
	}
}

func TestInternalHeadersCoverTheMarker(t *testing.T) {
	a, b := InternalHeaders(), InternalHeaders()
	a[0] = "changed"
	if b[0] != HeaderTenantID {
		t.Fatal("InternalHeaders shares its slice")
	}
	found := false
	for _, h := range b {
		found = found || h == DefaultMarkerHeader
		if h != HeaderTenantID && !strings.HasPrefix(h, InternalHeaderPrefix) {
			t.Errorf("%q is neither x-tenant-id nor under %q", h, InternalHeaderPrefix)
		}
	}
	if !found {
		t.Error("the marker header is not stripped")
	}
}

func TestReportFieldsRoundTripAndStayOutWhenEmpty(t *testing.T) {
	cfg := validConfig()
	a, err := Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(a.GetValue(), []byte("report")) {
		t.Error("a config without reporting encodes report fields: filters that predate them would refuse it")
	}
	cfg.ReportURL, cfg.ReportToken, cfg.ReportInterval = "http://127.0.0.1:9090", "report-token", "2s"
	a, err = Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReportURL != cfg.ReportURL || got.ReportToken != cfg.ReportToken || got.ReportIntervalOrDefault() != 2*time.Second {
		t.Errorf("report fields %q %q %q did not round-trip", got.ReportURL, got.ReportToken, got.ReportInterval)
	}
}
