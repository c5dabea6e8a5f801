#!/usr/bin/env bash
# ensure-clickhouse.sh makes sure a ClickHouse server binary is there for the integration tests and
# make run
# (internal/chserver starts private servers from it; it never uses a system service).
#
# Found (clickhouse-server on PATH or in /usr/sbin, clickhouse on PATH, or $INGEST_CLICKHOUSE_BINARY):
#   prints its version and exits 0.
# Missing, running as root with apt-get: installs Debian's clickhouse-server and clickhouse-client
#   (18.16 on Debian 12), keeping the package from starting its system service, and exits 0.
# Missing otherwise: prints what to install and exits 1.
#
# Usage: scripts/ensure-clickhouse.sh        (make test and make run run it; under CI=true a test failure is fatal)
set -euo pipefail

find_server() {
	if [[ -n "${INGEST_CLICKHOUSE_BINARY:-}" && -x "${INGEST_CLICKHOUSE_BINARY}" ]]; then
		echo "${INGEST_CLICKHOUSE_BINARY}"
	elif command -v clickhouse-server >/dev/null 2>&1; then
		command -v clickhouse-server
	elif [[ -x /usr/sbin/clickhouse-server ]]; then
		echo /usr/sbin/clickhouse-server
	elif command -v clickhouse >/dev/null 2>&1; then
		command -v clickhouse
	else
		return 1
	fi
}

report() {
	local bin=$1 version
	version=$("$bin" --version 2>/dev/null | head -n1 || true)
	echo "clickhouse: using ${bin}${version:+ (${version})}"
}

if bin=$(find_server); then
	report "$bin"
	exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "clickhouse: not found; installing Debian's clickhouse-server and clickhouse-client"
	# shellcheck source=apt-install.sh
	source "$(dirname "$0")/apt-install.sh"
	apt_install_without_services clickhouse-server clickhouse-client
	if bin=$(find_server); then
		report "$bin"
		exit 0
	fi
	echo "clickhouse: installed the packages but found no server binary" >&2
	exit 1
fi

cat >&2 <<'MSG'
clickhouse: no ClickHouse server found, and this script can install it only as root with apt-get.
The integration tests (sinkwriter/...) need one. Install it with:

    sudo apt-get update && sudo apt-get install -y clickhouse-server clickhouse-client

or point INGEST_CLICKHOUSE_BINARY at a clickhouse-server or single-binary clickhouse.
Without it those tests are skipped, except under CI=true, where they fail.
MSG
exit 1
