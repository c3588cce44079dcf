#!/usr/bin/env bash
# Runs the Autobahn testsuite against pushwire as server (fuzzingclient) and
# as client (fuzzingserver), then checks that every case is OK or
# INFORMATIONAL. Uses $WSTEST (default: wstest on PATH), or the
# crossbario/autobahn-testsuite Docker image when no wstest is found.
# Usage: autobahn/run.sh [server|client|both] (default both); CASES narrows
# the cases, e.g. CASES='["1.*","9.*"]'.
# TESTEE_FLAGS passes flags to the testee, e.g. TESTEE_FLAGS=-coalesce.
# The specs give the suite 5 s to see our close frame: with autobahn on
# txaio, a timer rounds its deadline down to the whole second, so the
# default 1 s can expire a millisecond after the suite's close and report
# a reply in flight as UNCLEAN.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-both}
WSTEST=${WSTEST:-wstest}
CASES=${CASES:-'["*"]'}
mkdir -p bin reports
go build -o bin/autobahn ./autobahn

# The suite's command line, run directly (not through a shell function) so
# that killing its PID stops it and frees the port.
if command -v "$WSTEST" >/dev/null 2>&1; then
	suite_cmd=("$WSTEST")
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	suite_cmd=(docker run --rm --network host -v "$PWD:/work" -w /work crossbario/autobahn-testsuite wstest)
else
	echo "autobahn: no wstest (set WSTEST) and no Docker engine" >&2
	exit 1
fi

spec() { # spec TEMPLATE: the shipped spec with the chosen cases
	sed "s|\"cases\": \[\"\*\"\]|\"cases\": $CASES|" "autobahn/$1" >"reports/$1"
}

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/9001) 2>/dev/null && return 0
		sleep 0.1
	done
	echo "autobahn: nothing listens on 127.0.0.1:9001" >&2
	return 1
}

status=0
if [ "$mode" = server ] || [ "$mode" = both ]; then
	bin/autobahn server -addr 127.0.0.1:9001 ${TESTEE_FLAGS:-} &
	testee=$!
	trap 'kill $testee 2>/dev/null || true' EXIT
	wait_port
	if ! kill -0 $testee 2>/dev/null; then
		echo "autobahn: the testee did not start" >&2
		exit 1
	fi
	spec fuzzingclient.json
	"${suite_cmd[@]}" -m fuzzingclient -s reports/fuzzingclient.json
	kill $testee; wait $testee 2>/dev/null || true
	trap - EXIT
	bin/autobahn verdict reports/server/index.json || status=1
fi
if [ "$mode" = client ] || [ "$mode" = both ]; then
	spec fuzzingserver.json
	"${suite_cmd[@]}" -m fuzzingserver -s reports/fuzzingserver.json &
	suite=$!
	trap 'kill $suite 2>/dev/null || true' EXIT
	wait_port
	bin/autobahn client -url ws://127.0.0.1:9001 -agent pushwire ${TESTEE_FLAGS:-}
	kill $suite; wait $suite 2>/dev/null || true
	trap - EXIT
	bin/autobahn verdict reports/client/index.json || status=1
fi
exit $status
