package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	cpclient "github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// writeSecret writes 32 random bytes, hex, into a file named name in a new directory: a hop
// key or a token.
func writeSecret(t *testing.T, name string) string {
	t.Helper()
	b, err := hopauth.GenerateKeyFile(rand.Read)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a config file named name.yaml into a new directory.
func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startCommand runs `ingest <name> args...` in the background until the test ends, and
// checks then that it stopped cleanly.
func startCommand(t *testing.T, name string, args ...string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := testkit.Run(t, "ingest "+name, time.Minute, func(ctx context.Context) error {
		return runCommand(ctx, log, name, args)
	})
	select {
	case <-b.Done():
		t.Fatalf("ingest %s %q exited at once: %v", name, args, b.Err())
	case <-time.After(50 * time.Millisecond):
	}
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	testkit.WaitHTTP(context.Background(), t, "http://"+addr+"/readyz", 90*time.Second)
}

// startKafka starts an embedded Kafka for the services that need one.
func startKafka(t *testing.T) string {
	t.Helper()
	k, err := embedkafka.Start(embedkafka.Config{DataDir: t.TempDir(), Listen: []string{"127.0.0.1:0"}, DefaultPartitions: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	return k.Addrs()[0]
}

// TestEveryServiceStartsFromAConfigFile starts each service with only --config and checks
// that it serves what the file says: its /readyz, on the file's address, answers 200.
func TestEveryServiceStartsFromAConfigFile(t *testing.T) {
	t.Run("kafka", func(t *testing.T) {
		admin := testkit.FreeAddr(t)
		startCommand(t, "kafka", "--config", writeConfig(t, "kafka", fmt.Sprintf(`
admin_listen: %s
kafka:
  data_dir: %s
  listen: [%s]
  default_partitions: 1
`, admin, t.TempDir(), testkit.FreeAddr(t))))
		waitReady(t, admin)
	})

	t.Run("normalizer and sinkwriter", func(t *testing.T) {
		kafka := startKafka(t)
		sw, n := testkit.FreeAddr(t), testkit.FreeAddr(t)
		hopKey, token := writeSecret(t, "hop.key"), writeSecret(t, "report-token")
		startCommand(t, "sinkwriter", "--config", writeConfig(t, "sinkwriter", fmt.Sprintf(`
listen: %s
shutdown_timeout: 5s
writer:
  brokers: [%s]
  topic_partitions: 1
  topic_configs:
    retention.ms: "3600000"
hop_auth:
  key_file: %s
tenants:
  url: http://%s
  token_file: %s
`, sw, kafka, hopKey, testkit.FreeAddr(t), token)))
		waitReady(t, sw)
		startCommand(t, "normalizer", "--config", writeConfig(t, "normalizer", fmt.Sprintf(`
listen: %s
sink: sinkwriter
sink_writer:
  url: http://%s
  protocol: h2c
normalizer:
  max_body_bytes: 1048576
  sink_timeout: 5s
hop_auth:
  key_file: %s
`, n, sw, hopKey)))
		waitReady(t, n)
	})

	t.Run("loader and migrate", func(t *testing.T) {
		ch := chtest.Start(t)
		kafka := startKafka(t)
		// The loader is ready once it joined its group, which it does once a topic matches.
		createTopic(t, kafka, "ingest.acme")
		addr := testkit.FreeAddr(t)
		file := writeConfig(t, "loader", fmt.Sprintf(`
listen: %s
migrate_timeout: 1m
loader:
  brokers: [%s]
  clickhouse_addr: [%s]
  database: ingest_cmd_test
  skip_migrate: true
  topic_refresh_interval: 1s
  shutdown_timeout: 5s
`, addr, kafka, ch.Addr()))
		log := slog.New(slog.DiscardHandler)
		if err := runCommand(context.Background(), log, "migrate", []string{"--config", file}); err != nil {
			t.Fatalf("ingest migrate --config: %v", err)
		}
		startCommand(t, "loader", "--config", file)
		waitReady(t, addr)
	})

	t.Run("controlplane and edge", func(t *testing.T) {
		dir := t.TempDir()
		cert, key, _, err := testcert.Write(dir, "localhost", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		pki, err := testcert.WriteMTLS(t.TempDir(), "config-file-test", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		const token = "0123456789abcdef-config-file-test"
		tokenFile := filepath.Join(dir, "admin-token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		admin, xds, edge, edgeAdmin := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
		t.Setenv("INGEST_ADMIN_TOKEN", "")
		startCommand(t, "controlplane", "--config", writeConfig(t, "controlplane", fmt.Sprintf(`
registry:
  path: %s
admin:
  listen_address: %s
  token_file: %s
  shutdown_timeout: 5s
xds:
  listen_address: %s
  server_tls:
    cert_file: %s
    key_file: %s
    client_ca_file: %s
  cert_file: %s
  key_file: %s
  filter_library_path: /opt/ingest/ingest-edge.so
  edge:
    max_in_flight_bytes: 67108864
`, filepath.Join(dir, "cp.db"), admin, tokenFile, xds, pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile, cert, key)))
		waitReady(t, admin)
		cl, err := cpclient.New("http://"+admin, token)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := cl.Health(context.Background()); err != nil || h.Status != "ok" {
			t.Errorf("the admin API's JSON health (ingestctl's): %+v, %v", h, err)
		}
		up := registry.Endpoint{Host: "127.0.0.1", Port: 1}
		if _, err := cl.SetUpstreams(context.Background(), 0, []registry.Endpoint{up}, []registry.Endpoint{up}); err != nil {
			t.Fatal(err)
		}
		startCommand(t, "edge", "--config", writeConfig(t, "edge", fmt.Sprintf(`
listen_address: %s
admin_listen_address: %s
xds_address: %s
xds_ca_file: %s
xds_cert_file: %s
xds_key_file: %s
node_id: config-file-test
shutdown_timeout: 2s
`, edge, edgeAdmin, xds, pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile)))
		waitReady(t, edgeAdmin)
	})
}

func createTopic(t *testing.T, broker, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// TestAConfigFileWithAnUnknownKeyOrABadValueFailsNamingTheKeyAndTheFile runs every
// subcommand that takes --config with a file that has a typo, and one with a bad value.
func TestAConfigFileWithAnUnknownKeyOrABadValueFailsNamingTheKeyAndTheFile(t *testing.T) {
	for _, tc := range []struct {
		command, body, key string
	}{
		{"normalizer", "normalizer:\n  max_body_byte: 10\n", "normalizer.max_body_byte: unknown key"},
		{"normalizer", "normalizer:\n  max_past: yesterday\n", "normalizer.max_past: cannot unmarshal !!str `yesterday` into time.Duration"},
		{"normalizer", "sink: kafka\n", "sink: \"kafka\" is not sinkwriter, log or discard"},
		{"sinkwriter", "listen: 127.0.0.1:0\nbrokerz: [a:1]\n", "brokerz: unknown key"},
		{"sinkwriter", "writer:\n  topic_partitions: many\n", "writer.topic_partitions: cannot unmarshal"},
		{"loader", "loader:\n  flush_row: 5\n", "loader.flush_row: unknown key"},
		{"loader", "loader:\n  compression: gzip\n", "loader.compression: \"gzip\" is not none or lz4"},
		{"migrate", "loader:\n  databse: x\n", "loader.databse: unknown key"},
		{"kafka", "kafka:\n  sync_write: true\n", "kafka.sync_write: unknown key"},
		{"controlplane", "admin:\n  token: secret\n", "admin.token: unknown key"}, // the token never comes from a file
		{"controlplane", "xds:\n  filter_libary_path: /x.so\n", "xds.filter_libary_path: unknown key"},
		{"edge", "listen: 127.0.0.1:8443\n", "listen: unknown key; the keys here are: admin_listen_address"},
		{"edge", "shutdown_timeout: 1h\n", "edge.shutdown_timeout 1h0m0s must be from 100ms to 10m0s"},
		{"dev", "edge_address: 127.0.0.1:1\n", "edge_address: unknown key"},
		{"dev", "log_level: loud\n", "log_level: \"loud\" is not debug, info, warn or error"},
	} {
		t.Run(tc.command+"/"+strings.TrimSuffix(strings.Fields(tc.key)[0], ":"), func(t *testing.T) {
			file := writeConfig(t, tc.command, tc.body)
			err := runCommand(context.Background(), slog.New(slog.DiscardHandler), tc.command, []string{"--config", file})
			if err == nil {
				t.Fatalf("ingest %s accepted %q", tc.command, tc.body)
			}
			if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), file) {
				t.Errorf("ingest %s with %q: %v\nwant an error naming %q and the file", tc.command, tc.body, err, tc.key)
			}
			if errors.Is(err, flag.ErrHelp) {
				t.Error("a config error reads as -h")
			}
		})
	}
}

// TestAFlagOverridesTheConfigFile serves the normalizer on the flag's address, not the
// file's, with the file's other settings.
func TestAFlagOverridesTheConfigFile(t *testing.T) {
	fromFile, fromFlag := testkit.FreeAddr(t), testkit.FreeAddr(t)
	file := writeConfig(t, "normalizer", fmt.Sprintf("listen: %s\nsink: discard\nnormalizer:\n  max_body_bytes: 100\n  max_decompressed_bytes: 100\nhop_auth:\n  insecure_internal_hops: true\n", fromFile))
	startCommand(t, "normalizer", "--config", file, "--listen", fromFlag)
	waitReady(t, fromFlag)
	if resp, err := http.Get("http://" + fromFile + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("the file's address %s is served although --listen overrides it", fromFile)
	}
	// The file's limit holds: a body over 100 bytes is refused.
	req, _ := http.NewRequest(http.MethodPost, "http://"+fromFlag+"/v1/events", strings.NewReader(strings.Repeat(" ", 200)))
	req.Header.Set("X-Tenant-Id", "acme")
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 200-byte body under the file's max_body_bytes of 100: %d, want 413", resp.StatusCode)
	}
}

// TestANormalizerWithoutASinkSaysHowToChooseOne: no silent fallback to a sink that keeps
// nothing.
func TestANormalizerWithoutASinkSaysHowToChooseOne(t *testing.T) {
	err := runCommand(context.Background(), slog.New(slog.DiscardHandler), "normalizer", []string{"--listen", "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "sink_writer.url: required") || !strings.Contains(err.Error(), "sink: log or discard") {
		t.Fatalf("ingest normalizer without a sink: %v", err)
	}
}
