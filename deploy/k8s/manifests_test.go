package k8s

import (
	"slices"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// TestManifests renders the base and every overlay and runs every check on each.
func TestManifests(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			a := analyze(load(t, dir))
			for _, c := range checks {
				for _, err := range c.run(a) {
					t.Errorf("%s: %v", c.name, err)
				}
			}
		})
	}
}

// TestSmallRunsOnePodOfEach: the dev overlay runs one pod of every service and autoscales
// nothing.
func TestSmallRunsOnePodOfEach(t *testing.T) {
	m := load(t, "overlays/small")
	for _, w := range m.workloads() {
		if w.replicas == nil || *w.replicas != 1 {
			t.Errorf("%s: replicas %v, want 1", w, w.replicas)
		}
	}
	if h := typed[*autoscalingv2.HorizontalPodAutoscaler](m); len(h) > 0 {
		t.Errorf("%d HorizontalPodAutoscalers, want none", len(h))
	}
}

// TestProductionIsSpreadScaledAndSecured: the production overlay runs at least three pods of
// every stateless stage, spread over zones and nodes; Kafka is reached over TLS with SASL by
// every client; the loaders write to a replicated ClickHouse cluster; the images are not the
// base's dev tag.
func TestProductionIsSpreadScaledAndSecured(t *testing.T) {
	m := load(t, "overlays/production")
	a := analyze(m)
	for _, h := range typed[*autoscalingv2.HorizontalPodAutoscaler](m) {
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 3 {
			t.Errorf("HorizontalPodAutoscaler %s: minReplicas %v, want at least 3 (one per zone)", h.Name, h.Spec.MinReplicas)
		}
	}
	for _, w := range m.workloads() {
		if w.kind != "Deployment" {
			continue
		}
		var keys []string
		for _, c := range w.template.Spec.TopologySpreadConstraints {
			keys = append(keys, c.TopologyKey)
		}
		if !slices.Contains(keys, corev1.LabelTopologyZone) || !slices.Contains(keys, corev1.LabelHostname) {
			t.Errorf("%s: spread over %q, want zones and nodes", w, keys)
		}
		if w.name == "ingest-loader" && (w.replicas == nil || *w.replicas < 3) {
			t.Errorf("%s: replicas %v, want at least 3", w, w.replicas)
		}
	}
	secured := func(who string, k kafkaauth.Config) {
		if k.TLS.CAFile == "" && !k.TLS.Enabled || k.SASL.Mechanism == "" || k.SASL.PasswordFile == "" {
			t.Errorf("%s: Kafka without TLS, SASL or a password file: %+v", who, k)
		}
	}
	for _, s := range a.services {
		switch c := s.cfg.(type) {
		case *sinkwriter.ServiceConfig:
			secured(s.String(), c.Writer.Kafka)
		case *loader.ServiceConfig:
			secured(s.String(), c.Loader.Kafka)
			if c.Loader.ClickHouseCluster == "" || len(c.Loader.ClickHouseAddr) < 2 {
				t.Errorf("%s: ClickHouse %v without a replicated cluster", s, c.Loader.ClickHouseAddr)
			}
		case *controlplane.Config:
			secured(s.String(), c.Replay.Kafka)
		}
		if _, tag := splitImage(s.c.Image); tag == "dev" {
			t.Errorf("%s: image %s: production runs a release tag", s, s.c.Image)
		}
	}
}
