# ingest: see README.md. Every target works on a fresh machine with Go installed.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...

.PHONY: all build filter run test test-short bench bench-hotpath bench-pipeline bench-ack test-faults test-quotas test-chcluster lint fuzz clean

all: build

## build: compile bin/ingest and bin/ingestctl
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/ingest ./cmd/ingestctl

## filter: build the edge filter as the shared object Envoy's golang filter loads (needs cgo);
## `make test` builds it too and checks its envoyGo* exports (edge/filter/sotest)
filter:
	@mkdir -p $(BIN)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(BIN)/ingest-edge.so ./edge/filter/so

## run: the whole pipeline in one process (ingest dev): a private ClickHouse (Debian's package
## is installed when missing, as for `make test`), Kafka, sink writer, loader, normalizer, control
## plane and the edge on https://localhost:8443, with a demo tenant; data in ./.data
run: build
	@scripts/ensure-clickhouse.sh
	./$(BIN)/ingest dev

## test: every test, with the race detector (fuzz seed corpora run as tests)
test:
	@# Integration tests start private ClickHouse servers: install Debian's package when missing
	@# (root + apt); elsewhere they skip with the install command, except under CI=true.
	@scripts/ensure-clickhouse.sh || [ "$$CI" != true ]
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# The API-parity check lives in its own module (Envoy 1.33-era protos; see apicheck/).
	cd apicheck && $(GO) test -count=1 ./...
	@# The Prometheus rules and the dashboard are checked with Prometheus' own packages, in
	@# their own module (deploy/observability/).
	cd deploy/observability && $(GO) test -count=1 ./...
	@# The Kubernetes manifests, checked with kustomize and the services' configs (deploy/k8s/).
	cd deploy/k8s && $(GO) test -count=1 ./...

## test-short: the fast unit suite
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: hot-path benchmarks, then the standard whole-pipeline scenario (BENCHMARKS.md)
bench: bench-hotpath bench-pipeline

bench-hotpath:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-pipeline: the standard scenario, every process separate on loopback (needs ClickHouse,
## as `make test`); INGEST_BENCH_DURATION (60s), INGEST_BENCH_RATE, INGEST_BENCH_OUT (JSON file),
## INGEST_BENCH_LOADER_FLAGS (extra loader flags); reports ClickHouse's CPU by cause (BENCHMARKS.md)
bench-pipeline:
	@scripts/ensure-clickhouse.sh
	INGEST_BENCH=1 $(GO) test -run TestStandardBenchmarkScenario -count=1 -timeout 15m -v ./e2e

## bench-ack: the acknowledgement path alone (edge, normalizer, sink writer, a storing Kafka
## broker, loadgen; separate processes, no ClickHouse): events/s acknowledged, request p50/p99
## and CPU-s per million events per process, per format (BENCHMARKS.md); INGEST_BENCH_DURATION
## (20s per case), INGEST_BENCH_ACK_CASES (format:signal[:connections],...), INGEST_BENCH_OUT,
## INGEST_BENCH_PROFILE=<dir> (a CPU profile of each service per case)
bench-ack:
	INGEST_BENCH_ACK=1 $(GO) test -run TestAckBenchmarkScenario -count=1 -timeout 20m -v ./e2e

## test-faults: the fault suite (docs/reliability.md), every process separate on loopback (needs
## ClickHouse, as `make test`): kill -9 of each process under load, 10x overload, a noisy tenant;
## FAULT=Kill9/kafka, Overload or NoisyTenant runs one part; INGEST_FAULTS_OUT (JSON file)
FAULT ?=
test-faults:
	@scripts/ensure-clickhouse.sh
	INGEST_FAULTS=1 $(GO) test -run 'TestFault$(FAULT)' -count=1 -timeout 25m -v ./e2e

## test-quotas: the global quota scenario (docs/edge.md, "Global quotas"): three Go edges and
## the control plane as separate processes, a tenant offering 3x its quota across them, the
## control plane and then an edge killed (about 2 minutes)
test-quotas:
	INGEST_QUOTAS=1 $(GO) test -run TestGlobalQuotaHoldsAcrossThreeEdges -count=1 -timeout 10m -v ./e2e

## test-chcluster: the replicated ClickHouse tests (docs/sinkwriter.md, "Replicated ClickHouse"):
## a private ZooKeeper (Debian's package is installed when missing, as ClickHouse is for `make
## test`) and two ClickHouse replicas; the schema ON CLUSTER, the roll-up worker waiting for its
## replica, the loader through a SIGKILL of a replica under load, replay and clear-shadow on the
## cluster (about a minute and a half)
test-chcluster:
	@scripts/ensure-clickhouse.sh || [ "$$CI" != true ]
	@scripts/ensure-zookeeper.sh || [ "$$CI" != true ]
	INGEST_CHCLUSTER=1 $(GO) test -race -count=1 -timeout 10m -v \
	  -run 'Cluster(Replicates|Statements|TestsSkip)|OnCluster|ValidCluster|MigrateCluster|WorkerOnACluster|ReplicatedClickHouse|ReplayOnACluster|ClearShadowOnACluster' \
	  ./internal/chtest ./sinkwriter/schema ./sinkwriter/rollup ./sinkwriter/loader ./migration/replay ./controlplane/api

## fuzz: run every fuzz target for FUZZTIME each (default 5m). A run fails only when it wrote a
## failing input to testdata/fuzz: Go 1.26's coordinator may end a run with "context deadline
## exceeded" and no input at the -fuzztime boundary (golang/go#75804), which is not a finding.
FUZZTIME ?= 5m
fuzz:
	@fail=0; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; dir=$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$f; \
	    before=$$(ls $$dir 2>/dev/null | wc -l); \
	    if ! $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg; then \
	      if [ $$(ls $$dir 2>/dev/null | wc -l) -gt $$before ]; then fail=1; echo "FAILING INPUT in $$dir"; \
	      else echo "(no input written: the coordinator's deadline race, golang/go#75804)"; fi; \
	    fi; \
	  done; done; exit $$fail

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

clean:
	rm -rf $(BIN)
