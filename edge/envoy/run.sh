#!/usr/bin/env bash
# Runs the ingest edge: Envoy (1.33 contrib build) with the edge filter's .so, configured over
# xDS by the control plane. See edge/envoy/README.md.
#
# Environment:
#   INGEST_NODE_ID    node.id for the control plane (default: the host name)
#   INGEST_FILTER_SO  where `make filter` puts the filter (default: bin/ingest-edge.so); the
#                     control plane's xds.filter_library_path (--config) must name the same file
#   GOMEMLIMIT        soft limit of the Go filter's heap (default 512MiB); Envoy's overload
#                     manager does not see the Go heap
#   ENVOY_LOG_LEVEL   default info
# Extra arguments go to envoy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v envoy >/dev/null 2>&1; then
	cat <<'MSG'
edge/envoy/run.sh: no `envoy` binary on PATH, so there is nothing to run; exiting successfully.
  The edge needs Envoy 1.33 built with contrib extensions (the golang filter), for example
  from the envoyproxy/envoy:contrib-v1.33-latest image. Without it, use the Go edge host
  (`ingest dev`), which runs the same filter code and consumes the same xDS resources.
MSG
	exit 0
fi

make -C "$root" filter

so="${INGEST_FILTER_SO:-$root/bin/ingest-edge.so}"
if [[ ! -f "$so" ]]; then
	echo "edge/envoy/run.sh: $so does not exist after 'make filter'; set INGEST_FILTER_SO to the built .so" >&2
	exit 1
fi

export GOMEMLIMIT="${GOMEMLIMIT:-512MiB}"
node="${INGEST_NODE_ID:-$(hostname)}"
echo "edge/envoy/run.sh: node $node, filter $so, GOMEMLIMIT=$GOMEMLIMIT"
echo "  the control plane must run with xds.filter_library_path: $so"
exec envoy \
	--config-path "$here/bootstrap.yaml" \
	--service-node "$node" \
	--service-cluster ingest-edge \
	--log-level "${ENVOY_LOG_LEVEL:-info}" \
	"$@"
