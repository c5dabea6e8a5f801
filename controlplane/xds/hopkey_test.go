package xds

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// The edges sign with the first key of xds.hop_key_file, reread at every build (rotation).
func TestFilterConfigCarriesTheFirstHopKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hop.key")
	build := func() *filterconfig.Config {
		t.Helper()
		cfg := testConfig()
		cfg.HopKeyFile = file
		a, err := makeTenantFilter(cfg, registry.State{Revision: 1}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return parseFilterAny(t, a)
	}
	first, second := strings.Repeat("11", 32), strings.Repeat("22", 32)
	for _, tc := range []struct {
		content string
		want    byte
	}{{first + "\n" + second + "\n", 0x11}, {second + "\n" + first + "\n", 0x22}} {
		if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := build().HopKey; !bytes.Equal(got, bytes.Repeat([]byte{tc.want}, 32)) {
			t.Errorf("hop_key %x, want the file's first key (%02x…)", got, tc.want)
		}
	}
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.HopKeyFile = file
	if _, err := makeTenantFilter(cfg, registry.State{Revision: 1}, time.Now()); err == nil || !strings.Contains(err.Error(), "xds.hop_key_file") {
		t.Errorf("a bad key file: %v, want an error naming xds.hop_key_file", err)
	}
}
