package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// configOf returns a fresh config of each service that reads a --config file.
var configOf = map[string]func() any{
	"normalizer":   func() any { c := normalizer.DefaultServiceConfig(); return &c },
	"sinkwriter":   func() any { c := sinkwriter.DefaultServiceConfig(); return &c },
	"loader":       func() any { c := loader.DefaultServiceConfig(); return &c },
	"kafka":        func() any { c := embedkafka.DefaultServiceConfig(); return &c },
	"controlplane": func() any { c := controlplane.DefaultConfig(); return &c },
	"edge":         func() any { c := goedge.DefaultConfig(); return &c },
}

// TestConfigDocIsCompleteAndDecodes keeps docs/configuration.md the complete reference: each
// service's block decodes strictly into its config, validates, and names every key the
// config has.
func TestConfigDocIsCompleteAndDecodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(# ingest (\\w+) --config [^\n]*\n.*?)```").FindAllSubmatch(doc, -1)
	seen := map[string]bool{}
	for _, b := range blocks {
		name, body := string(b[2]), b[1]
		newCfg, ok := configOf[name]
		if !ok {
			t.Errorf("docs/configuration.md has a block for %q, which reads no config file", name)
			continue
		}
		seen[name] = true
		cfg := newCfg()
		if err := config.Decode("docs/configuration.md#"+name, body, cfg); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v, ok := cfg.(config.Validator); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s: the documented config does not validate: %v", name, err)
			}
		}
		var node yaml.Node
		if err := yaml.Unmarshal(body, &node); err != nil {
			t.Fatal(err)
		}
		documented := yamlKeys("", node.Content[0])
		want := structKeys("", reflect.TypeOf(cfg).Elem())
		for _, k := range want {
			if !slices.Contains(documented, k) {
				t.Errorf("%s: key %q is not documented in docs/configuration.md", name, k)
			}
		}
	}
	for name := range configOf {
		if !seen[name] {
			t.Errorf("docs/configuration.md has no block for ingest %s", name)
		}
	}
}

// yamlKeys lists the dotted keys of the leaves of a YAML mapping.
func yamlKeys(prefix string, n *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := prefix+n.Content[i].Value, n.Content[i+1]
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			out = append(out, yamlKeys(k+".", v)...)
			continue
		}
		out = append(out, k)
	}
	return out
}

// structKeys lists the dotted yaml keys of the leaves of a config struct; maps and
// durations are leaves.
func structKeys(prefix string, t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = "<" + f.Name + " has no yaml tag>"
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			out = append(out, structKeys(prefix+name+".", f.Type)...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}
