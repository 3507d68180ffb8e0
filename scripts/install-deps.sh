#!/bin/bash
#
# install-deps.sh: install what building and testing revrx needs, on
# Debian 12, 13 or unstable, and nothing that is already there.  Safe to
# run repeatedly; `make test`, `make demo` and the version matrix
# (scripts/matrix.sh, inside each release's root) run it first.
#
# Usage: scripts/install-deps.sh [--bench] [--no-fuzz] [--build-only]
#   --bench       adds pgbackrest
#   --no-fuzz     leaves out clang and its sanitizer runtime (the matrix
#                 roots do not fuzz: the parsers are the same on every major)
#   --build-only  only what building needs (an image's build stage,
#                 deploy/docker/Dockerfile): no server, tests or test server
#   PG_MAJOR    the PostgreSQL major to build against (default: the one the
#               release ships: 15 on Debian 12, 17 on 13, 18 on unstable)
set -euo pipefail

cd "$(dirname "$0")/.."

bench=0
fuzz=1
tests=1
for arg in "$@"; do
	case $arg in
		--bench) bench=1 ;;
		--no-fuzz) fuzz=0 ;;
		--build-only) tests=0; fuzz=0 ;;
		*) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
	esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# apt's package lists, fetched once per run and only when something is
# missing or a name has to be looked up (a bare machine has none).
lists_fresh=0
apt_update() {
	if [ $lists_fresh -eq 0 ]; then
		$sudo apt-get update -qq
		lists_fresh=1
	fi
}

# The major a release ships: what its "postgresql" metapackage depends on.
release_major() {
	apt_update
	apt-cache depends postgresql 2>/dev/null |
		sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n 1
}

# The clang version the release's "clang" stands for, so that its own
# sanitizer and libFuzzer runtime (libclang-rt-N-dev) comes with it.
clang_major() {
	apt_update
	apt-cache depends clang 2>/dev/null |
		sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1
}

major=${PG_MAJOR:-}
if [ -z "$major" ]; then
	# the common case without asking apt: the server installed already
	if ls -d /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
		major=$(ls -d /usr/lib/postgresql/*/bin/postgres | sed 's|/usr/lib/postgresql/\([0-9]*\)/.*|\1|' | sort -n | tail -n 1)
	else
		major=$(release_major)
	fi
fi
if [ -z "$major" ]; then
	echo "install-deps: cannot tell which PostgreSQL major this release ships; set PG_MAJOR" >&2
	exit 1
fi

packages=(
	make gcc pkg-config binutils
	"postgresql-server-dev-$major"
	libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev liblz4-dev libjansson-dev libxxhash-dev
	libxml2-dev libmicrohttpd-dev
)
if [ $tests -eq 1 ]; then
	packages+=(
		"postgresql-$major" libcmocka-dev libipc-run-perl
		zstd lz4 openssl procps util-linux
	)
	# Node.js may come from elsewhere than Debian (then Debian's npm would
	# conflict with it): only ask apt for it when there is none at all.
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		packages+=(nodejs npm)
	fi
fi
if [ $fuzz -eq 1 ]; then
	if ! command -v clang >/dev/null; then
		packages+=(clang)
	fi
	cv=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
	[ -n "$cv" ] || cv=$(clang_major)
	[ -n "$cv" ] && packages+=("libclang-rt-$cv-dev")
fi
if [ $bench -eq 1 ]; then
	packages+=(pgbackrest)
fi

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
		echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
	apt_update
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The S3-compatible test server (tests/s3), pinned by package-lock.json.
if [ $tests -eq 1 ] && [ -f tests/s3/package-lock.json ] && [ ! -d tests/s3/node_modules/@20minutes/s3rver ]; then
	echo "install-deps: installing the S3 test server (npm ci in tests/s3)"
	(cd tests/s3 && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: all dependencies present (PostgreSQL $major)"
