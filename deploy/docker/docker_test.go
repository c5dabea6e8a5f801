// Package docker_test checks the container images' Dockerfiles against what CI builds and
// tests: there is no container engine here, so the steps inside the images are the Makefile's
// targets, and this test keeps the two from drifting apart.
package docker_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	op, args string
}

func parse(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		op, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// makeTargets returns the targets of the Makefile and the outputs of build and filter.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	return targets
}

func goMod(t *testing.T) *modfile.File {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestImagesBuildWithTheMakefilesTargets: every RUN make names a Makefile target, the files
// copied out of the build stage are what those targets produce, base images are pinned to
// go.mod's Go and Envoy versions, the ingest image runs as non-root, and the filter lands where
// the control plane's listener loads it from.
func TestImagesBuildWithTheMakefilesTargets(t *testing.T) {
	targets := makeTargets(t)
	mod := goMod(t)
	goMinor := strings.Join(strings.Split(mod.Go.Version, ".")[:2], ".")
	var envoyVersion string
	for _, r := range mod.Require {
		if r.Mod.Path == "github.com/envoyproxy/envoy" {
			envoyVersion = r.Mod.Version
		}
	}
	if envoyVersion == "" {
		t.Fatal("go.mod does not require github.com/envoyproxy/envoy")
	}
	outputs := map[string][]string{"build": {"/src/bin/ingest", "/src/bin/ingestctl"}, "filter": {"/src/bin/ingest-edge.so"}}

	for _, tc := range []struct {
		file, target, final string
		copies              []string
	}{
		{"ingest.Dockerfile", "build", "gcr.io/distroless/static-debian12:nonroot", []string{"/src/bin/ingest", "/src/bin/ingestctl"}},
		{"envoy.Dockerfile", "filter", "envoyproxy/envoy:contrib-" + envoyVersion, []string{"/src/bin/ingest-edge.so"}},
	} {
		ins := parse(t, tc.file)
		var froms []string
		var ran []string
		var copied []string
		user := ""
		for _, in := range ins {
			switch in.op {
			case "FROM":
				froms = append(froms, strings.Fields(in.args)[0])
			case "RUN":
				for _, m := range regexp.MustCompile(`\bmake ([a-z][a-z0-9-]*)`).FindAllStringSubmatch(in.args, -1) {
					if !targets[m[1]] {
						t.Errorf("%s: RUN make %s: no such Makefile target", tc.file, m[1])
					}
					ran = append(ran, m[1])
				}
			case "COPY":
				if strings.HasPrefix(in.args, "--from=build ") {
					f := strings.Fields(strings.TrimPrefix(in.args, "--from=build "))
					copied = append(copied, f[:len(f)-1]...)
					if tc.target == "filter" && f[len(f)-1] != filterconfig.DefaultLibraryPath {
						t.Errorf("%s: the filter goes to %s, but the listener loads %s", tc.file, f[len(f)-1], filterconfig.DefaultLibraryPath)
					}
				}
			case "USER":
				user = in.args
			}
		}
		if len(ran) != 1 || ran[0] != tc.target {
			t.Errorf("%s: runs make %v, want exactly make %s", tc.file, ran, tc.target)
		}
		for _, c := range copied {
			found := false
			for _, o := range outputs[tc.target] {
				found = found || c == o
			}
			if !found {
				t.Errorf("%s: copies %s, which make %s does not produce", tc.file, c, tc.target)
			}
		}
		if strings.Join(copied, " ") != strings.Join(tc.copies, " ") {
			t.Errorf("%s: copies %v, want %v", tc.file, copied, tc.copies)
		}
		if len(froms) < 2 || froms[len(froms)-1] != tc.final {
			t.Errorf("%s: final image %v, want %s", tc.file, froms, tc.final)
		}
		for _, f := range froms {
			if strings.HasPrefix(f, "golang:") && !strings.HasPrefix(f, "golang:"+goMinor+"-") {
				t.Errorf("%s: builds with %s, but go.mod says go %s", tc.file, f, mod.Go.Version)
			}
			if strings.HasPrefix(f, "envoyproxy/envoy") && f != "envoyproxy/envoy:contrib-"+envoyVersion {
				t.Errorf("%s: %s, but the filter is built against Envoy %s", tc.file, f, envoyVersion)
			}
		}
		if tc.target == "build" && user != "nonroot:nonroot" {
			t.Errorf("%s: runs as %q, want nonroot:nonroot", tc.file, user)
		}
	}
	// The Makefile's targets do what the images rely on: build is static, filter a c-shared .so.
	mk, _ := os.ReadFile("../../Makefile")
	for _, want := range []string{"CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/ingest ./cmd/ingestctl",
		"CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(BIN)/ingest-edge.so ./edge/filter/so"} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile no longer has %q, which the images rely on", want)
		}
	}
}
