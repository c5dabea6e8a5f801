package xds

import (
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/ingestdev/ingest/controlplane/registry"
)

func TestEachTypeChangesVersionOnlyWhenItChanges(t *testing.T) {
	cfg := testConfig()
	base := stateWith(t, map[string]string{"acme": "legacy", "beta": "v2"})
	build := func(st registry.State, cert Certificate) Input { return Input{State: st, Cert: cert, Now: testNow()} }
	var v versioner
	step := func(in Input) *generation {
		t.Helper()
		res, err := BuildResources(cfg, in)
		if err != nil {
			t.Fatal(err)
		}
		gen, succ, changed, err := v.next(res, in.State.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if !changed {
			return nil
		}
		if err := Validate(gen.snap); err != nil {
			t.Fatalf("generation %d fails deep validation: %v", gen.version, err)
		}
		v = succ
		return gen
	}
	first := step(build(base, testCert()))
	if first.version != 1 || len(first.changed) != 6 {
		t.Fatalf("first generation %d changed %v, want 1 with all six types", first.version, first.changed)
	}
	if again := step(build(base, testCert())); again != nil {
		t.Fatalf("an identical state made generation %d", again.version)
	}

	// Each change comes on top of the ones before it and changes one type only.
	changes := []struct {
		name   string
		change func(st *registry.State, cert *Certificate)
		want   resource.Type
	}{
		{"stage change", func(st *registry.State, _ *Certificate) {
			st.Tenants[0].Stage = mustStage(t, "canary:30")
		}, resource.RouteType},
		// Keys and quotas are in the edge filter's ECDS resource, never in the listener: on
		// Envoy a listener change drains every client connection.
		{"quota change", func(st *registry.State, _ *Certificate) {
			st.Tenants[1].Quotas.EventsPerSecond = 1
		}, resource.ExtensionConfigType},
		{"key creation", func(st *registry.State, _ *Certificate) {
			st.Tenants[1].Keys = append(slices.Clone(st.Tenants[1].Keys), apiKey("beta-k2", "ik_beta", "second", nil))
		}, resource.ExtensionConfigType},
		{"key revocation", func(st *registry.State, _ *Certificate) {
			st.Tenants[1].Keys = st.Tenants[1].Keys[:1]
		}, resource.ExtensionConfigType},
		{"upstream change", func(st *registry.State, _ *Certificate) {
			st.Upstreams.V2 = append(slices.Clone(st.Upstreams.V2), registry.Endpoint{Host: "10.0.2.9", Port: 4318})
		}, resource.EndpointType},
		{"certificate change", func(_ *registry.State, cert *Certificate) {
			cert.Chain = append(cert.Chain, '\n')
		}, resource.SecretType},
	}
	st, cert := base, testCert()
	st.Tenants = slices.Clone(base.Tenants)
	prev := first
	for _, c := range changes {
		c.change(&st, &cert)
		gen := step(build(st, cert))
		if gen == nil {
			t.Fatalf("%s: no new generation", c.name)
		}
		if gen.version != prev.version+1 {
			t.Errorf("%s: generation %d after %d, want monotonic +1", c.name, gen.version, prev.version)
		}
		if !slices.Equal(gen.changed, []resource.Type{c.want}) {
			t.Errorf("%s: changed %v, want only %s", c.name, gen.changed, c.want)
		}
		for typ, ver := range gen.versions {
			want := prev.versions[typ]
			if typ == c.want {
				want = gen.snap.GetVersion(typ)
				if ver == prev.versions[typ] {
					t.Errorf("%s: %s kept version %s", c.name, typ, ver)
				}
			}
			if ver != want || gen.snap.GetVersion(typ) != ver {
				t.Errorf("%s: %s version %s (snapshot %s), want %s", c.name, typ, ver, gen.snap.GetVersion(typ), want)
			}
		}
		prev = gen
	}
}
