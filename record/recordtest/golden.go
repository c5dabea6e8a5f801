package recordtest

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ParseHexDump reads the hex dump of package record's golden files: lines of an offset and
// groups of hex digits.
func ParseHexDump(dump []byte) ([]byte, error) {
	var b []byte
	for i, line := range strings.Split(strings.TrimSuffix(string(dump), "\n"), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("line %d: %q is not offset and bytes", i+1, line)
		}
		chunk, err := hex.DecodeString(strings.Join(fields[1:], ""))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		b = append(b, chunk...)
	}
	return b, nil
}

// GoldenRecords returns the frozen records of package record's testdata directory dir, by
// file name, the batch left out. It fails t when there are fewer than seven.
func GoldenRecords(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if filepath.Base(f) == "batch.golden" {
			continue
		}
		dump, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseHexDump(dump)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = b
	}
	if len(out) < 7 {
		t.Fatalf("%d golden records in %s, want 7 or more", len(out), dir)
	}
	return out
}
