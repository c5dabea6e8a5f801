# syntax=docker/dockerfile:1
# The ingest image: every subcommand (ingest normalizer, sinkwriter, loader, controlplane, edge,
# kafka, migrate, loadgen, record) and ingestctl, static, run as a non-root user.
#
#   docker build -f deploy/docker/ingest.Dockerfile -t ingest:dev .
#
# The build is the Makefile's `make build` (CGO_ENABLED=0), which CI runs on every change; the
# Go version is go.mod's (deploy/docker/docker_test.go checks both).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/ingest /src/bin/ingestctl /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/ingest"]
