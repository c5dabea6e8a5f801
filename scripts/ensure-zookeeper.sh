#!/usr/bin/env bash
# ensure-zookeeper.sh makes sure ZooKeeper (and a Java runtime) are there for the replicated
# ClickHouse tests (make test-chcluster): internal/chserver (StartZooKeeper) starts private standalone servers from
# Debian's jar (/usr/share/java/zookeeper.jar, whose manifest names its dependencies); it never
# uses a system service.
#
# Found ($INGEST_ZOOKEEPER_JAR or /usr/share/java/zookeeper.jar, and java on PATH):
#   prints the jar and java and exits 0.
# Missing, running as root with apt-get: installs Debian's zookeeper (3.8 on Debian 12; it pulls a
#   Java runtime), keeping any package from starting a system service, and exits 0.
# Missing otherwise: prints what to install and exits 1.
#
# Usage: scripts/ensure-zookeeper.sh        (make test-chcluster runs it; under CI=true a missing
#                                           ZooKeeper fails the replicated tests instead of skipping them)
set -euo pipefail

find_zookeeper() {
	local jar=${INGEST_ZOOKEEPER_JAR:-/usr/share/java/zookeeper.jar}
	if [[ -f $jar ]] && command -v java >/dev/null 2>&1; then
		echo "$jar"
	else
		return 1
	fi
}

report() {
	local jar=$1 java version
	java=$(command -v java)
	version=$(readlink -f "$jar" 2>/dev/null || echo "$jar")
	echo "zookeeper: using ${version} with ${java}"
}

if jar=$(find_zookeeper); then
	report "$jar"
	exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "zookeeper: not found; installing Debian's zookeeper"
	# shellcheck source=apt-install.sh
	source "$(dirname "$0")/apt-install.sh"
	apt_install_without_services --no-install-recommends zookeeper
	if jar=$(find_zookeeper); then
		report "$jar"
		exit 0
	fi
	echo "zookeeper: installed the package but found no /usr/share/java/zookeeper.jar or no java" >&2
	exit 1
fi

cat >&2 <<'MSG'
zookeeper: no ZooKeeper found, and this script can install it only as root with apt-get.
The replicated ClickHouse tests (make test-chcluster) need one. Install it with:

    sudo apt-get update && sudo apt-get install -y --no-install-recommends zookeeper

or point INGEST_ZOOKEEPER_JAR at a ZooKeeper server jar whose manifest names its dependencies
(as Debian's does), with java on PATH. Without it those tests are skipped, except
under CI=true, where they fail.
MSG
exit 1
