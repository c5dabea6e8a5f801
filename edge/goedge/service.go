package goedge

import "github.com/ingestdev/ingest/internal/service"

// NewService is `ingest edge`: New with the logger and metrics registry of set. The Edge it
// returns is a service.Service: its admin listener serves /healthz, /readyz (ready once a
// complete configuration from the control plane's xDS is applied, until shutdown) and
// /metrics; Run serves the HTTPS listener and the ADS stream and drains them within
// Config.ShutdownTimeout.
func NewService(cfg Config, set service.Settings, opts ...Option) (*Edge, error) {
	set = set.WithDefaults()
	return New(cfg, set.Registry, set.Log, opts...)
}

var _ service.Service = (*Edge)(nil)
