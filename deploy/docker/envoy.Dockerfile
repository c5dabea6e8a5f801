# syntax=docker/dockerfile:1
# Envoy with the ingest edge filter: Envoy's contrib image (which has the golang filter) at the
# version the filter is built against (go.mod pins github.com/envoyproxy/envoy v1.33.2), and the
# filter's shared object at /etc/envoy/ingest-edge.so, where the control plane's listener
# expects it (xds.filter_library_path).
#
#   docker build -f deploy/docker/envoy.Dockerfile -t ingest-envoy:dev .
#
# The shared object is built by the Makefile's `make filter` (cgo, -buildmode=c-shared), which
# `make test` also builds and checks (edge/filter/sotest). It is built on the Envoy image
# itself, so that it links against the C library Envoy runs with.
FROM envoyproxy/envoy:contrib-v1.33.2 AS build
ARG GO_VERSION=1.26.8
USER root
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev make \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-$(dpkg --print-architecture).tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make filter

FROM envoyproxy/envoy:contrib-v1.33.2
COPY --from=build /src/bin/ingest-edge.so /etc/envoy/ingest-edge.so
# The image's entrypoint runs Envoy as the unprivileged envoy user.
