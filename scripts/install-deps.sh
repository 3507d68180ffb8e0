#!/bin/bash
#
# install-deps.sh: install what building and testing revrx needs, on
# Debian 12, and nothing that is already there.  Safe to run repeatedly;
# `make test` and `make demo` run it first.
#
# Usage: scripts/install-deps.sh [--bench]    (--bench adds pgbackrest)
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
	make gcc pkg-config
	postgresql-15 postgresql-server-dev-15
	libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev liblz4-dev libjansson-dev
	libxml2-dev libcmocka-dev
	libmicrohttpd-dev
	clang libclang-rt-14-dev
	libipc-run-perl
	zstd lz4
)
# Node.js may come from elsewhere than Debian (then Debian's npm would
# conflict with it): only ask apt for it when there is none at all.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	packages+=(nodejs npm)
fi
if [ "${1:-}" = "--bench" ]; then
	packages+=(pgbackrest)
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The S3-compatible test server (tests/s3), pinned by package-lock.json.
if [ -f tests/s3/package-lock.json ] && [ ! -d tests/s3/node_modules/@20minutes/s3rver ]; then
	echo "install-deps: installing the S3 test server (npm ci in tests/s3)"
	(cd tests/s3 && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: all dependencies present"
