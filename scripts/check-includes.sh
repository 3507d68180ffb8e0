#!/bin/bash
#-------------------------------------------------------------------------
#
# check-includes.sh
#	  Fails when a part of revrx includes a header it must not
#	  (docs/architecture.md, "The parts and what each may include").
#
#	  The rules, from the bottom up:
#	  - common/ is compiled into both sides: it includes only common/.
#	  - extension/ (the server module) includes extension/ and common/,
#	    never the agent.
#	  - the agent's parts are layered; a part includes its own headers,
#	    common/ and the parts listed for it below, nothing else.  The
#	    repository drivers (storage/) know nothing of what is stored.
#
#	  Only quoted includes are read ("x.h"); system headers (<x.h>) are
#	  not the project's business.  An agent header is named with its part
#	  ("storage/repo.h"); common and extension headers by their file name.
#	  Usage: scripts/check-includes.sh [TREE]   (exit 1 on a violation)
#
#-------------------------------------------------------------------------
set -u

tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$tree" || exit 2

# What each agent part may include besides itself and common/.
declare -A allowed=(
	[base]=""
	[storage]="base"
	[config]="base storage"
	[info]="base storage config"
	[retention]="base storage config info"
	[ship]="base storage config info retention"
	[restore]="base storage config info"
	[verify]="base storage config info restore"
	[daemon]="base storage config info retention ship restore verify"
	[command]="base storage config info retention ship restore verify daemon"
	[main]="base config command"
)

violations=0

fail()
{
	echo "check-includes: $1: $2" >&2
	violations=$((violations + 1))
}

# quoted_includes FILE: the "x.h" names FILE includes, one a line
quoted_includes()
{
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"
}

# A quoted name that is not the project's is PostgreSQL's ("storage/fd.h"):
# the server side may use those.  It must not reach the agent's headers,
# nor common/ the server module's.
for f in common/*.[ch]; do
	for h in $(quoted_includes "$f"); do
		if [ -f "agent/$h" ] || { [ -f "extension/$h" ] && [ ! -f "common/$h" ]; }; then
			fail "$f" "common/ includes neither side, not \"$h\""
		fi
	done
done

for f in extension/*.[ch]; do
	for h in $(quoted_includes "$f"); do
		[ -f "agent/$h" ] && fail "$f" "the server module never includes the agent (\"$h\")"
	done
done

# The server module's own headers must not include each other in a loop:
# tsort names a loop it finds.
loops=$(for f in extension/*.h; do
		for h in $(quoted_includes "$f"); do
			[ -f "extension/$h" ] && echo "$h ${f#extension/}"
		done
		echo "${f#extension/} ${f#extension/}"
	done | tsort 2>&1 >/dev/null)
if [ -n "$loops" ]; then
	fail extension "headers include each other in a loop: $(echo "$loops" | sed 's/^tsort: //' | tr '\n' ' ')"
fi

for f in agent/*.[ch] agent/*/*.[ch]; do
	rel=${f#agent/}
	case $rel in
		*/*) part=${rel%%/*} ;;
		*) part=main ;;
	esac
	if [ -z "${allowed[$part]+set}" ]; then
		fail "$f" "agent/$part/ is not a known part (add it to this script and to docs/architecture.md)"
		continue
	fi
	for h in $(quoted_includes "$f"); do
		case $h in
			*/*)
				hpart=${h%%/*}
				if [ ! -f "agent/$h" ]; then
					fail "$f" "\"$h\" is not an agent header"
				elif [ "$hpart" != "$part" ] &&
					! [[ " ${allowed[$part]} " == *" $hpart "* ]]; then
					fail "$f" "agent/$part/ may not include $hpart/ (\"$h\")"
				fi
				;;
			*)
				[ -f "common/$h" ] ||
					fail "$f" "\"$h\": an agent header is named with its part, and the agent includes no server header"
				;;
		esac
	done
done

if [ $violations -gt 0 ]; then
	echo "check-includes: $violations include(s) break the layering (docs/architecture.md)" >&2
	exit 1
fi
echo "check-includes: every include follows the layering"
