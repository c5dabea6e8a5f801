package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"text/template"
)

// Run starts the stack, prints the banner to out, and runs until ctx is done or a service
// fails; then it stops everything in reverse order within Config.StopTimeout. It returns nil
// after a clean stop on ctx.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	cfg = cfg.withDefaults()
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := WriteBanner(out, s.Info()); err != nil {
		log.Warn("cannot print the banner", "err", err)
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping the dev stack")
	case runErr = <-s.Failed():
		log.Error("a service failed; stopping the dev stack", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout)
	defer cancel()
	if err := s.Stop(sctx); err != nil {
		return errors.Join(runErr, fmt.Errorf("cannot stop cleanly: %w", err))
	}
	if runErr == nil {
		log.Info("dev stack stopped; data kept", "data_dir", cfg.DataDir)
	}
	return runErr
}

// WriteBanner writes how to send data to the stack and where to see it.
func WriteBanner(w io.Writer, i Info) error {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	return bannerTmpl.Execute(w, map[string]any{
		"I":           i,
		"CAAbs":       abs(i.CAFile),
		"Query":       i.DemoQuery(),
		"OTELHeaders": "authorization=" + url.PathEscape("Bearer "+i.DemoKey),
		// Inside the banner's single quotes: the shell puts the current time in ts.
		"SampleEvent":  `{"type":"log","ts":"'"$(date -u +%FT%TZ)"'","severity":"info","body":"hello from curl"}`,
		"ClientBinary": "clickhouse-client",
	})
}

var bannerTmpl = template.Must(template.New("banner").Parse(`
================================================================================
ingest dev is running. Data: {{.I.DataDir}} (kept across restarts). Ctrl-C stops everything.

  edge (HTTPS)       {{.I.EdgeURL}}   (CA: {{.I.CAFile}})
  control plane      {{.I.ControlPlane}}
  normalizer         http://{{.I.NormalizerAddr}}   (ingest-v2)
  legacy stand-in    {{.I.LegacyURL}}   (ingest-v1; counts: curl -s {{.I.LegacyURL}}/stats)
  Kafka (embedded)   {{.I.KafkaAddr}}
  ClickHouse         {{.I.ClickHouseAddr}}   (database {{.I.Database}})

Demo tenant "{{.I.DemoTenant}}" (stage v2). API key (also in {{.I.DemoKeyFile}}):
  {{.I.DemoKey}}

Send an event:
  curl --cacert {{.I.CAFile}} -H "Authorization: Bearer {{.I.DemoKey}}" \
    -H 'Content-Type: application/x-ndjson' \
    --data-binary '{{.SampleEvent}}' {{.I.EdgeURL}}/v1/events

See it in ClickHouse (a second or two later):
  {{.ClientBinary}} --port {{.I.ClickHouseTCP}} --query "{{.Query}}"

OpenTelemetry Collector (otlphttp exporter):
  exporters:
    otlphttp:
      endpoint: {{.I.EdgeURL}}
      headers:
        authorization: "Bearer {{.I.DemoKey}}"
      tls:
        ca_file: {{.CAAbs}}

OpenTelemetry Collector (otlp exporter, gRPC):
  exporters:
    otlp:
      endpoint: {{.I.EdgeAddr}}
      headers:
        authorization: "Bearer {{.I.DemoKey}}"
      tls:
        ca_file: {{.CAAbs}}

OpenTelemetry SDKs (gRPC or HTTP):
  export OTEL_EXPORTER_OTLP_ENDPOINT={{.I.EdgeURL}}
  export OTEL_EXPORTER_OTLP_PROTOCOL=grpc   # or http/protobuf
  export OTEL_EXPORTER_OTLP_HEADERS="{{.OTELHeaders}}"
  export OTEL_EXPORTER_OTLP_CERTIFICATE={{.CAAbs}}

ingestctl:
  export INGEST_SERVER={{.I.ControlPlane}} INGEST_TOKEN=$(cat {{.I.AdminTokenFile}})
  ./bin/ingestctl tenants list
  ./bin/ingestctl tenants get {{.I.DemoTenant}}
  ./bin/ingestctl keys create {{.I.DemoTenant}}
  ./bin/ingestctl stage set {{.I.DemoTenant}} legacy --yes   # route it to the legacy stand-in
  ./bin/ingestctl cutover rollback {{.I.DemoTenant}} --to shadow --yes   # mirror it: v1 answers, v2 writes the shadow tables
  ./bin/ingestctl cutover status {{.I.DemoTenant}}   # parity of v1 and v2 per minute, and the gate (docs/cutover.md)
  ./bin/ingestctl replay plan --tenant {{.I.DemoTenant}} --from-time 2000-01-01T00:00:00Z --to-time 2100-01-01T00:00:00Z   # what a replay would read (docs/replay.md)
  ./bin/ingestctl upstreams get
  ./bin/ingestctl top   # events/s, rejections, 429/503, lag and p95 per tenant, live
================================================================================
`))
