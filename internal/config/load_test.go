package config_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/config"
)

type inner struct {
	MaxBytes int64             `yaml:"max_bytes"`
	Timeout  time.Duration     `yaml:"timeout"`
	Brokers  []string          `yaml:"brokers"`
	Topic    map[string]string `yaml:"topic_configs"`
	Secret   string            `yaml:"-"`
}

type testConfig struct {
	Listen     string `yaml:"listen"`
	Partitions int32  `yaml:"partitions"`
	Sync       bool   `yaml:"sync"`
	Inner      inner  `yaml:"inner"`
	Items      []item `yaml:"items"`
}

type item struct {
	Name string `yaml:"name"`
}

func (c testConfig) Validate() error {
	if c.Partitions < 0 {
		return errors.New("partitions: must not be negative")
	}
	return nil
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func defaults() testConfig {
	return testConfig{Listen: "127.0.0.1:1", Partitions: 6, Inner: inner{MaxBytes: 100, Timeout: time.Second}}
}

func TestLoadSetsTheKeysOfTheFileAndKeepsTheOthers(t *testing.T) {
	p := writeFile(t, `
# a comment
listen: 127.0.0.1:4318
inner:
  timeout: 2m30s
  brokers: [a:1, b:2]
  topic_configs:
    min.insync.replicas: "2"
items:
  - name: x
`)
	cfg := defaults()
	if err := config.Load(p, &cfg); err != nil {
		t.Fatal(err)
	}
	want := testConfig{Listen: "127.0.0.1:4318", Partitions: 6, Inner: inner{
		MaxBytes: 100, Timeout: 150 * time.Second, Brokers: []string{"a:1", "b:2"}, Topic: map[string]string{"min.insync.replicas": "2"},
	}, Items: []item{{Name: "x"}}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestLoadNamesTheFileLineAndKeyOfEveryProblem(t *testing.T) {
	p := writeFile(t, `listen: 127.0.0.1:4318
lisen: typo
inner:
  max_bytes: lots
  timeout: 10
  secret: x
items:
  - name: x
    nme: y
partitions: 99999999999
`)
	cfg := defaults()
	err := config.Load(p, &cfg)
	if err == nil {
		t.Fatal("a file with unknown keys and bad values was accepted")
	}
	for _, want := range []string{
		`config file "` + p + `", line 2: lisen: unknown key; the keys here are: inner, items, listen, partitions, sync`,
		`line 4: inner.max_bytes: cannot unmarshal !!str ` + "`lots`" + ` into int64`,
		`line 5: inner.timeout: cannot unmarshal !!int ` + "`10`" + ` into time.Duration`,
		`line 6: inner.secret: unknown key`,
		`line 9: items[0].nme: unknown key`,
		`line 10: partitions: cannot unmarshal !!int ` + "`9999999...`" + ` into int32`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	var ke *config.KeyError
	if !errors.As(err, &ke) || !errors.Is(err, config.ErrUnknownKey) {
		t.Errorf("error is not a KeyError wrapping ErrUnknownKey: %#v", err)
	}
}

func TestLoadRefusesDuplicateKeysAndNonMappings(t *testing.T) {
	for name, body := range map[string]string{
		"duplicate": "listen: a\nlisten: b\n",
		"list":      "- listen: a\n",
		"section":   "inner: 3\n",
		"syntax":    "listen: [a\n",
	} {
		cfg := defaults()
		if err := config.Load(writeFile(t, body), &cfg); err == nil {
			t.Errorf("%s: accepted %q", name, body)
		}
	}
}

func TestLoadOfAnEmptyFileChangesNothing(t *testing.T) {
	cfg := defaults()
	if err := config.Load(writeFile(t, "# nothing\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaults()) {
		t.Errorf("got %+v", cfg)
	}
	if err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), &cfg); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// flags binds flags to cfg as a service's command does.
func flags(cfg *testConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "")
	fs.BoolVar(&cfg.Sync, "sync", cfg.Sync, "")
	config.IntVar(fs, &cfg.Partitions, "partitions", "")
	config.ListVar(fs, &cfg.Inner.Brokers, "brokers", "")
	config.MapVar(fs, &cfg.Inner.Topic, "topic-config", "")
	fs.DurationVar(&cfg.Inner.Timeout, "timeout", cfg.Inner.Timeout, "")
	return fs
}

func TestParseAppliesDefaultsThenTheFileThenTheFlags(t *testing.T) {
	p := writeFile(t, "listen: from-file\npartitions: 3\ninner:\n  brokers: [file:1]\n  timeout: 5s\n  topic_configs: {a: '1', b: '2'}\n")
	for _, form := range [][]string{{"--config", p}, {"-config=" + p}, {"--config=" + p}} {
		cfg := defaults()
		args := append([]string{"--sync", "--partitions", "12", "--brokers", "x:1,y:2"}, form...)
		args = append(args, "--topic-config", "c=3", "rest")
		fs := flags(&cfg)
		if err := config.Parse(fs, args, &cfg); err != nil {
			t.Fatalf("%v: %v", form, err)
		}
		want := defaults()
		want.Listen = "from-file" // from the file, no flag
		want.Partitions = 12      // the flag overrides the file
		want.Sync = true
		want.Inner.Brokers = []string{"x:1", "y:2"}
		want.Inner.Timeout = 5 * time.Second
		want.Inner.Topic = map[string]string{"c": "3"} // a given map flag replaces the file's map
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%v:\n got %+v\nwant %+v", form, cfg, want)
		}
		if got := fs.Args(); len(got) != 1 || got[0] != "rest" {
			t.Errorf("%v: args %q", form, got)
		}
	}
}

func TestParseWithoutAFileUsesDefaultsAndFlags(t *testing.T) {
	cfg := defaults()
	if err := config.Parse(flags(&cfg), []string{"--listen", "--config"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "--config" { // a flag's value, not the --config flag
		t.Errorf("listen %q", cfg.Listen)
	}
}

func TestParseNamesTheFileWhenTheResultIsInvalid(t *testing.T) {
	p := writeFile(t, "partitions: -1\n")
	cfg := defaults()
	err := config.Parse(flags(&cfg), []string{"--config", p}, &cfg)
	if err == nil || !strings.Contains(err.Error(), `invalid configuration from "`+p+`" and the flags: partitions: must not be negative`) {
		t.Errorf("Parse: %v", err)
	}
	cfg = defaults()
	err = config.Parse(flags(&cfg), []string{"--partitions", "-1"}, &cfg)
	if err == nil || !strings.Contains(err.Error(), "invalid configuration from the flags: partitions") {
		t.Errorf("Parse: %v", err)
	}
	cfg = defaults()
	if err := config.Parse(flags(&cfg), []string{"--partitions", "70000000000"}, &cfg); err == nil {
		t.Error("an int32 flag accepted 70000000000")
	}
}

func TestPrefixPutsTheSectionBeforeEveryKey(t *testing.T) {
	err := config.Prefix("normalizer", errors.Join(errors.New("max_body_bytes: -1 must not be negative"), errors.New("max_past: -1s must not be negative")))
	want := "normalizer.max_body_bytes: -1 must not be negative\nnormalizer.max_past: -1s must not be negative"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if config.Prefix("x", nil) != nil {
		t.Error("Prefix of nil is not nil")
	}
}
