package sotest

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// entryPoints are the functions Envoy 1.33's golang HTTP filter resolves in the library
// (contrib/golang/filters/http/source/go/pkg/http: shim.go, config.go).
var entryPoints = []string{
	"envoyGoFilterCleanUp",
	"envoyGoFilterDestroyHttpPluginConfig",
	"envoyGoFilterMergeHttpPluginConfig",
	"envoyGoFilterNewHttpPluginConfig",
	"envoyGoFilterOnHttpData",
	"envoyGoFilterOnHttpDestroy",
	"envoyGoFilterOnHttpHeader",
	"envoyGoFilterOnHttpLog",
	"envoyGoFilterOnHttpStreamComplete",
	"envoyGoRequestSemaDec",
}

func TestSharedObjectExportsEnvoysEntryPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the .so with -buildmode=c-shared (a minute or two); skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("the .so is checked as ELF; GOOS is %s", runtime.GOOS)
	}
	goCmd, err := exec.LookPath("go") // go test puts its own go command first on PATH
	if err != nil {
		t.Skip("no go command to build the .so with")
	}
	so := filepath.Join(t.TempDir(), "ingest-edge.so")
	cmd := exec.CommandContext(t.Context(), goCmd, "build", "-buildmode=c-shared", "-o", so, "github.com/ingestdev/ingest/edge/filter/so")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the filter's .so: %v\n%s", err, out)
	}

	f, err := elf.Open(so)
	if err != nil {
		t.Fatalf("cannot open the .so as ELF: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Errorf("ELF type %v, want a shared object (ET_DYN)", f.Type)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatalf("cannot read the dynamic symbols: %v", err)
	}
	var exported []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "envoyGo") && s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			exported = append(exported, s.Name)
		}
	}
	slices.Sort(exported)
	if !slices.Equal(exported, entryPoints) {
		t.Errorf("the .so exports %q, want exactly %q", exported, entryPoints)
	}
}
