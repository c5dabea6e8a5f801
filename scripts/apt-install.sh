#!/usr/bin/env bash
# apt-install.sh installs Debian packages for the tests without starting any system service they
# ship: the tests run private servers of their own. Sourced by ensure-clickhouse.sh and
# ensure-zookeeper.sh, which call it only as root with apt-get.
#
# Usage: apt_install_without_services [apt-get install options] <package>...

apt_install_without_services() {
	export DEBIAN_FRONTEND=noninteractive
	# Deny every service start through policy-rc.d for the length of the install (only if no
	# policy is in place already), then take the policy away again.
	local policy=/usr/sbin/policy-rc.d placed=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		placed=1
	fi
	local rc=0
	apt-get update -q && apt-get install -y -q "$@" || rc=$?
	if [[ -n $placed ]]; then
		rm -f "$policy"
	fi
	return "$rc"
}
