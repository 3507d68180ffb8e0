#!/bin/bash
#
# build.sh: build and install revrx against one PostgreSQL major, and name
# the Debian packages the installed programs need at run time.
#
# The version matrix (scripts/matrix.sh, inside each Debian root) and the
# container image (deploy/docker/Dockerfile) both build with this script,
# so the image's build steps are the ones the matrix tests on every major.
#
# Usage: scripts/build.sh [--destdir DIR] [--runtime-packages FILE]
#   --destdir DIR            install under DIR (a staging tree, as
#                            `make install DESTDIR=DIR`); default: in place
#   --runtime-packages FILE  write there, one a line, the packages that hold
#                            the shared libraries revrx-agent and revrx.so
#                            load (what an image's runtime stage installs);
#                            fails if a library belongs to no package
#   PG_MAJOR                 the major to build against (default: the newest
#                            PostgreSQL server installed)
set -euo pipefail

cd "$(dirname "$0")/.."

destdir=
runtime_packages=
while [ $# -gt 0 ]; do
	case $1 in
		--destdir) destdir=$2; shift 2 ;;
		--runtime-packages) runtime_packages=$2; shift 2 ;;
		*) echo "build: unknown option $1" >&2; exit 2 ;;
	esac
done

major=${PG_MAJOR:-$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null |
	sed 's|/usr/lib/postgresql/\([0-9]*\)/.*|\1|' | sort -n | tail -n 1)}
pg_config=/usr/lib/postgresql/$major/bin/pg_config
if [ -z "$major" ] || [ ! -x "$pg_config" ]; then
	echo "build: no pg_config for PostgreSQL ${major:-(none found)}; install postgresql-server-dev-N (scripts/install-deps.sh)" >&2
	exit 1
fi
echo "build: against $($pg_config --version)"

make -s PG_CONFIG="$pg_config" all
make -s PG_CONFIG="$pg_config" install ${destdir:+DESTDIR="$destdir"}

if [ -n "$runtime_packages" ]; then
	agent="$destdir$($pg_config --bindir)/revrx-agent"
	module="$destdir$($pg_config --pkglibdir)/revrx.so"
	: >"$runtime_packages"
	# the libraries they name themselves (what those load in turn comes
	# with the packages as their dependencies)
	needed=$(readelf -d "$agent" "$module" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u)
	for soname in $needed; do
		lib=$(ldd "$agent" "$module" | awk -v n="$soname" '$1 == n && $3 ~ /^\// { print $3; exit }')
		if [ -z "$lib" ]; then
			echo "build: $soname (needed by revrx) is not found" >&2
			exit 1
		fi
		# merged /usr: a package may own the library under either name
		pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
			dpkg -S "/usr$lib" 2>/dev/null) || true
		pkg=${pkg%%:*}
		if [ -z "$pkg" ]; then
			echo "build: $lib (loaded by revrx) belongs to no Debian package" >&2
			exit 1
		fi
		echo "$pkg" >>"$runtime_packages"
	done
	sort -u -o "$runtime_packages" "$runtime_packages"
	echo "build: runtime packages: $(tr '\n' ' ' <"$runtime_packages")"
fi
