package filter_test

import (
	"testing"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/fakeclock"
)

// Configurations parsed by Shared.ConfigParser share the Shared's key cache: a key resolved
// under one is not checked with SHA-256 again under the next, which still judges it by its own
// keys. The zero ConfigParser leaves the Shared's cache alone.
func TestKeyCacheSurvivesAPush(t *testing.T) {
	shared := filter.NewShared(fakeclock.New(start).Now)
	keys := filter.KeyCacheOf(shared)
	m, err := envoyhost.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	host := envoyhost.New(nil)
	parse := func(p filter.ConfigParser, cfg *filterconfig.Config) interface{} {
		t.Helper()
		a, err := filterconfig.Encode(cfg)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		parsed, err := envoyhost.ParseConfig(p, a, m)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return parsed
	}
	// send sends one request with key under parsed and checks the tenant it was stamped with
	// ("": 401) and whether the Shared's cache missed it (the key was checked with SHA-256).
	send := func(parsed interface{}, key, wantTenant string, wantChecked bool) {
		t.Helper()
		before := keys.Misses()
		res, err := host.Decode(t.Context(), envoyhost.Filter{Factory: shared.FilterFactory, Config: parsed},
			request("/v1/events", key, "application/x-ndjson", events(1)), 0)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		defer res.Finish(200, nil)
		if wantTenant == "" {
			wantRefusal(t, res, 401, filter.ReasonUnknownAPIKey, "")
		} else if res.Local != nil {
			t.Errorf("local reply %d %s, want the request forwarded for %s", res.Local.Status, res.Local.Body, wantTenant)
		} else if got := res.Header.Get("X-Tenant-Id"); got != wantTenant {
			t.Errorf("x-tenant-id = %q, want %q", got, wantTenant)
		}
		if checked := keys.Misses() != before; checked != wantChecked {
			t.Errorf("key %s… checked with SHA-256: %v, want %v", key[:11], checked, wantChecked)
		}
	}

	parsed1 := parse(shared.ConfigParser(), testConfig())
	send(parsed1, acmeKey, "acme", true)
	send(parsed1, acmeKey, "acme", false)

	// A push (another quota): acme's key is a hit under the new configuration.
	cfg2 := testConfig()
	cfg2.Tenants[0].Quotas.BurstEvents = 20
	parsed2 := parse(shared.ConfigParser(), cfg2)
	send(parsed2, acmeKey, "acme", false)
	send(parsed2, betaKey, "beta", true)
	send(parsed1, betaKey, "beta", false) // and the old configuration profits too

	// A push that moves beta's key to acme and removes acme's key: judged by the new keys.
	cfg3 := testConfig()
	acmePrefix, _ := filterconfig.ParseKeyPrefix(acmeKey)
	betaPrefix, _ := filterconfig.ParseKeyPrefix(betaKey)
	cfg3.Keys[acmePrefix] = cfg3.Keys[acmePrefix][1:] // the revoked key only
	cfg3.Keys[betaPrefix][0].Tenant = "acme"
	parsed3 := parse(shared.ConfigParser(), cfg3)
	send(parsed3, betaKey, "acme", false)
	send(parsed3, acmeKey, "", true)
	send(parsed3, acmeKey, "", true) // a failure is not cached

	// The zero ConfigParser (the control plane's validation) gives each config a cache of its
	// own: acme's key is checked there, and the Shared's cache is not consulted.
	parsed4 := parse(filter.ConfigParser{}, testConfig())
	send(parsed4, acmeKey, "acme", false)
	if n := keys.Len(); n != 2 {
		t.Errorf("%d keys in the Shared's cache, want 2 (acme's, beta's)", n)
	}
}
