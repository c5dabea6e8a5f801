package controlplane_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/migration/replay"
)

const token = "0123456789abcdef-admin"

func TestRunServesTheAdminAPIAndStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := controlplane.Config{
		Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, "cp.db")},
		Admin:    controlplane.AdminConfig{ListenAddress: "127.0.0.1:0", TokenFile: tokenFile},
	}
	start := func() (*client.Client, string, func() error) {
		t.Helper()
		cp, err := controlplane.New(cfg, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		run := testkit.Go(t, 10*time.Second, cp.Run)
		server := "http://" + cp.AdminAddr().String()
		c, err := client.New(server, token)
		if err != nil {
			t.Fatal(err)
		}
		return c, server, run.Stop
	}

	c, server, stop := start()
	ctx := context.Background()
	if _, err := c.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme", Stage: "shadow"}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `ingest_controlplane_api_requests_total{code="201",route="POST /v1/tenants"} 1`) {
		t.Fatalf("/metrics lacks the request counter:\n%s", body)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := c.Health(ctx); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("after stop: err = %v, want unreachable", err)
	}

	c, _, stop = start()
	defer stop()
	tn, err := c.GetTenant(ctx, "acme")
	if err != nil || tn.Stage.String() != "shadow" {
		t.Fatalf("after restart: %+v, %v", tn, err)
	}
}

func TestValidateChecksTheClickHouseClusterName(t *testing.T) {
	c := controlplane.DefaultConfig()
	c.Admin.Token = token
	c.ClickHouse.Addr = []string{"ch-0:9000", "ch-1:9000"}
	c.ClickHouse.Cluster = "ingest"
	if err := c.Validate(); err != nil {
		t.Fatalf("a valid cluster name: %v", err)
	}
	c.ClickHouse.Cluster = "in gest"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `clickhouse.cluster: "in gest" is not a valid name`) {
		t.Fatalf("Validate = %v, want an error naming clickhouse.cluster", err)
	}
}

func TestValidateReportsEveryProblemAndHowToMakeAToken(t *testing.T) {
	err := controlplane.Config{Admin: controlplane.AdminConfig{ListenAddress: "nope", ShutdownTimeout: -1},
		ClickHouse: controlplane.ClickHouseConfig{Addr: []string{"clickhouse"}, Database: "in-gest", Timeout: -1}}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"admin.listen_address", "admin.token_file: no admin token", "head -c 32 /dev/urandom", "INGEST_ADMIN_TOKEN", "admin.shutdown_timeout",
		`clickhouse.addr: "clickhouse" is not host:port`, `clickhouse.database: "in-gest"`, "clickhouse.timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := controlplane.DefaultConfig().WithDefaults().Validate(); err == nil {
		t.Fatal("config without a token accepted")
	}
	ok := controlplane.DefaultConfig()
	ok.Admin.Token = token
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesAShortTokenFileAndReleasesTheRegistry(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := controlplane.Config{
		Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, "cp.db")},
		Admin:    controlplane.AdminConfig{ListenAddress: "127.0.0.1:0", TokenFile: tokenFile},
	}
	if _, err := controlplane.New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "fewer than the minimum") {
		t.Fatalf("short token: err = %v", err)
	}
	// A listen failure after the registry opened must close it again.
	cfg.Admin.TokenFile = ""
	cfg.Admin.Token = token
	cfg.Admin.ListenAddress = "256.0.0.1:1"
	if _, err := controlplane.New(cfg, nil, nil); err == nil {
		t.Fatal("bad listen address accepted")
	}
	reg, err := registry.Open(cfg.Registry.Path, registry.WithLockTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("registry still locked after a failed New: %v", err)
	}
	reg.Close()
}

func TestReplayNeedsClickHouseAndRunsWithTheControlPlane(t *testing.T) {
	dir := t.TempDir()
	cfg := controlplane.Config{
		Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, "cp.db")},
		Admin:    controlplane.AdminConfig{ListenAddress: "127.0.0.1:0", Token: token},
		Replay:   replay.Config{Brokers: []string{"127.0.0.1:1"}},
	}
	// Replay on without ClickHouse: refused at start, saying what to set.
	_, err := controlplane.New(cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "replay.brokers") || !strings.Contains(err.Error(), "clickhouse.addr") {
		t.Fatalf("replay without ClickHouse: %v", err)
	}
	if err := (controlplane.Config{Replay: replay.Config{Brokers: []string{"kafka"}, Rate: -1}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), `replay.brokers: "kafka" is not host:port`) || !strings.Contains(err.Error(), "replay.rate") {
		t.Fatalf("invalid replay config: %v", err)
	}

	// With ClickHouse (dialled lazily: none needs to listen) the replay routes are served,
	// and the manager stops with the control plane.
	cfg.ClickHouse = controlplane.ClickHouseConfig{Addr: []string{"127.0.0.1:1"}}
	cp, err := controlplane.New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := testkit.Go(t, 10*time.Second, cp.Run)
	res, err := http.Get("http://" + cp.AdminAddr().String() + "/v1/replays")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/replays without a token: %d", res.StatusCode)
	}
	c, _ := client.New("http://"+cp.AdminAddr().String(), token)
	if _, err := c.Replays(context.Background()); errors.Is(err, client.ErrNotConfigured) {
		t.Fatalf("replay is configured, yet: %v", err)
	}
	if err := run.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Without replay.brokers the routes say how to turn it on.
	cfg.Replay = replay.Config{}
	cp, err = controlplane.New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	run = testkit.Go(t, 10*time.Second, cp.Run)
	defer run.Stop()
	c, _ = client.New("http://"+cp.AdminAddr().String(), token)
	if _, err := c.Replays(context.Background()); !errors.Is(err, client.ErrNotConfigured) || !strings.Contains(err.Error(), "replay.brokers") {
		t.Fatalf("without replay: %v", err)
	}
}
