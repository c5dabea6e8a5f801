package normalizer

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEUnitTableMatches keeps the README's unit table in step with unitTable: every unit,
// factor and canonical unit in one appears in the other.
func TestREADMEUnitTableMatches(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| (.*) \\|$")
	entry := regexp.MustCompile("`([^`]+)` \\(([0-9.e]+)\\)")
	_, section, _ := strings.Cut(string(b), "### Units")
	section, _, _ = strings.Cut(section, "###")
	seen := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, e := range entry.FindAllStringSubmatch(m[2], -1) {
			unit, canonical := e[1], m[1]
			factor, err := strconv.ParseFloat(e[2], 64)
			if err != nil {
				t.Fatalf("README factor %q for %s: %v", e[2], unit, err)
			}
			c, ok := unitTable[unit]
			switch {
			case !ok:
				t.Errorf("README lists %q, which unitTable lacks", unit)
			case c.Canonical != canonical || c.Factor != factor:
				t.Errorf("README says %s = %v %s, unitTable says %v %s", unit, factor, canonical, c.Factor, c.Canonical)
			}
			seen[unit] = true
		}
	}
	for unit := range unitTable {
		if !seen[unit] {
			t.Errorf("unitTable has %q, which the README's unit table lacks", unit)
		}
	}
}
