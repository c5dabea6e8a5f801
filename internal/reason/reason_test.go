package reason_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/internal/reason"
)

var (
	idSyntax = regexp.MustCompile(`^err-ingest-[a-z0-9]+(-[a-z0-9]+)*$`)
	idInText = regexp.MustCompile(`err-ingest-[a-z0-9]+(-[a-z0-9]+)*`)
)

func TestEveryIDIsUniqueWellFormedWithStatusAndAction(t *testing.T) {
	seen := map[reason.ID]bool{}
	for _, info := range reason.All() {
		id := info.ID
		if seen[id] {
			t.Errorf("%s is in the catalogue twice", id)
		}
		seen[id] = true
		if !idSyntax.MatchString(string(id)) || len(id) > 64 {
			t.Errorf("%q is not err-ingest- and lower-case words of at most 64 bytes", id)
		}
		switch info.Scope {
		case reason.ScopeEvent:
			if info.Status != 200 {
				t.Errorf("%s rejects one event: its status is the request's, 200, not %d", id, info.Status)
			}
		case reason.ScopeRequest:
			if info.Status < 400 || info.Status > 599 {
				t.Errorf("%s refuses a request with status %d, not an error status", id, info.Status)
			}
		default:
			t.Errorf("%s has no scope", id)
		}
		if retry := info.Status == 429 || info.Status == 503; info.Retry != retry {
			t.Errorf("%s: Retry is %v for status %d: only 429 and 503 are retried", id, info.Retry, info.Status)
		}
		if len(info.Action) < 10 || !(strings.HasPrefix(info.Action, "client: ") || strings.HasPrefix(info.Action, "operator: ")) {
			t.Errorf("%s: action %q does not say what the client or operator can do", id, info.Action)
		}
		if len(info.Stages) == 0 {
			t.Errorf("%s: no stage answers it", id)
		}
		if got, ok := reason.Lookup(id); !ok || got.ID != id || got.Status != info.Status {
			t.Errorf("Lookup(%s) = %+v, %v", id, got, ok)
		}
		if id.Status() != info.Status || id.Label() != string(id) || !reason.Known(id) {
			t.Errorf("%s: Status() %d, Label() %q, Known %v", id, id.Status(), id.Label(), reason.Known(id))
		}
	}
	if _, ok := reason.Lookup("err-ingest-no-such-reason"); ok {
		t.Error("Lookup of an unknown id succeeded")
	}
	if s := reason.ID("err-ingest-no-such-reason").Status(); s != 500 {
		t.Errorf("Status of an unknown id = %d, want 500", s)
	}
}

func TestNameIsTheMetricSuffix(t *testing.T) {
	if got := reason.TenantRateLimitedEvents.Name(); got != "tenant_rate_limited_events" {
		t.Errorf("Name() = %q", got)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { reason.Lookup(reason.SinkFull) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// root returns the module's root directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", dir, err)
	}
	return dir
}

// TestIDsAreSpelledOnlyInTheCatalogue walks the module: a string literal that starts with
// "err-ingest-" (an id, the prefix, or a body that starts with an id) in non-test Go code outside
// this package is a second copy of an id, which can drift from the catalogue. Stages use the
// constants (or aliases of them) instead. Comments and help texts may name ids in prose.
func TestIDsAreSpelledOnlyInTheCatalogue(t *testing.T) {
	dir := root(t)
	self, _ := filepath.Abs(".")
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == self || (path != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil // someone's file mid-edit: the build reports it
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !strings.Contains(s, reason.Prefix) {
				return true
			}
			rel, _ := filepath.Rel(dir, path)
			if strings.HasPrefix(s, reason.Prefix) {
				t.Errorf("%s:%d: literal %s spells a reason id: use the internal/reason constant", rel, fset.Position(lit.Pos()).Line, lit.Value)
			}
			for _, id := range idInText.FindAllString(s, -1) {
				if !reason.Known(reason.ID(id)) {
					t.Errorf("%s:%d: text names %s, which the catalogue lacks", rel, fset.Position(lit.Pos()).Line, id)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestREADMEStatusesMatchTheCatalogue keeps the README's status tables in step: every id a
// table row lists has the row's status in the catalogue, and every id the README names exists.
func TestREADMEStatusesMatchTheCatalogue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^\| ([0-9]{3}) \| (.*?) \|`)
	id := regexp.MustCompile("`(err-ingest-[a-z0-9-]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		for _, m := range id.FindAllStringSubmatch(line, -1) {
			if !reason.Known(reason.ID(m[1])) {
				t.Errorf("README names %s, which the catalogue lacks", m[1])
			}
		}
		r := row.FindStringSubmatch(line)
		if r == nil {
			continue
		}
		status, _ := strconv.Atoi(r[1])
		for _, m := range id.FindAllStringSubmatch(r[2], -1) {
			if got := reason.ID(m[1]).Status(); got != status {
				t.Errorf("README answers %s with %d, the catalogue with %d", m[1], status, got)
			}
		}
	}
}

// The tenant-share sheds of each stage that bounds a shared buffer per tenant are retryable and
// answered with the stage's status for "full": the edge 503, the normalizer and sink writer 429.
func TestTenantShareIDsAreShedsOfTheirStage(t *testing.T) {
	for _, tc := range []struct {
		id     reason.ID
		status int
		stage  reason.Stage
	}{
		{reason.EdgeTenantShareFull, 503, reason.StageEdge},
		{reason.NormalizerTenantShareFull, 429, reason.StageNormalizer},
		{reason.SinkTenantShareFull, 429, reason.StageSinkWriter},
	} {
		info, ok := reason.Lookup(tc.id)
		if !ok || info.Status != tc.status || !info.Retry || !slices.Contains(info.Stages, tc.stage) || !strings.Contains(info.Action, "tenant_share") {
			t.Errorf("%s: %+v, want a retryable %d of stage %s whose action names tenant_share", tc.id, info, tc.status, tc.stage)
		}
	}
}
