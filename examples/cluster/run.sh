#!/usr/bin/env bash
# Three Junction routers federated through one Redis, behind HAProxy, all on
# loopback: examples/cluster/README.md walks through it.
#
#   examples/cluster/run.sh          (from anywhere; Ctrl-C stops everything)
#
# Everything it starts is its child, and everything it writes (logs, Redis'
# working directory) goes to one temporary directory. On Ctrl-C, SIGTERM,
# SIGHUP or any failure it stops HAProxy, then the routers (each drains, up
# to shutdown.drain_timeout), then Redis, and removes the directory: there is
# no "stop" command and nothing is left behind. Redis runs without
# persistence (--save "" --appendonly no): what it holds, the cluster-wide
# retained messages included, is gone when it stops.
#
# Environment (default in brackets):
#   CLUSTER_BIN            the junction binary [<repo>/bin/junction, built with `make build` if missing]
#   CLUSTER_REDIS_PORT     Redis [6390]
#   CLUSTER_HTTP_PORT      HAProxy: HTTP + WebSocket to the routers [8080]
#   CLUSTER_MQTT_PORT      HAProxy: MQTT over TCP to the routers [1883]
#   CLUSTER_STATS_PORT     HAProxy's stats page [8404]
#   CLUSTER_R1_HTTP_PORT, CLUSTER_R2_HTTP_PORT, CLUSTER_R3_HTTP_PORT
#                          each router's own HTTP + WebSocket port [8081, 8082, 8083]
#   CLUSTER_R1_MQTT_PORT, CLUSTER_R2_MQTT_PORT, CLUSTER_R3_MQTT_PORT
#                          each router's own MQTT port [1884, 1885, 1886]
#   CLUSTER_START_TIMEOUT  seconds to wait for everything to be ready [60]
#   CLUSTER_KEEP=1         keep the temporary directory (the logs) on exit
#   JUNCTION_*             passed to the routers as configuration overrides,
#                          e.g. JUNCTION_LOG_LEVEL=debug, JUNCTION_FEDERATION_NODE_TIMEOUT=3s
#
# When everything is up it prints what runs where, then a line starting with
# "ready", and waits. A child that dies on its own (say, a router you killed
# to see the cluster cope) is reported; the rest keep running.
set -euo pipefail

if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
	echo "run.sh: needs bash 5.1 or newer (this is $BASH_VERSION)" >&2
	exit 1
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

export CLUSTER_REDIS_PORT=${CLUSTER_REDIS_PORT:-6390}
export CLUSTER_HTTP_PORT=${CLUSTER_HTTP_PORT:-8080}
export CLUSTER_MQTT_PORT=${CLUSTER_MQTT_PORT:-1883}
export CLUSTER_STATS_PORT=${CLUSTER_STATS_PORT:-8404}
export CLUSTER_R1_HTTP_PORT=${CLUSTER_R1_HTTP_PORT:-8081}
export CLUSTER_R2_HTTP_PORT=${CLUSTER_R2_HTTP_PORT:-8082}
export CLUSTER_R3_HTTP_PORT=${CLUSTER_R3_HTTP_PORT:-8083}
export CLUSTER_R1_MQTT_PORT=${CLUSTER_R1_MQTT_PORT:-1884}
export CLUSTER_R2_MQTT_PORT=${CLUSTER_R2_MQTT_PORT:-1885}
export CLUSTER_R3_MQTT_PORT=${CLUSTER_R3_MQTT_PORT:-1886}
START_TIMEOUT=${CLUSTER_START_TIMEOUT:-60}

die() {
	echo "run.sh: $*" >&2
	exit 1
}

# --- checks, before anything starts ---------------------------------------------

# haproxy lives in /usr/sbin, which is not on every user's PATH.
REDIS_SERVER=$(command -v redis-server) ||
	die "redis-server is not installed: run \`make deps\` or apt-get install redis-server haproxy"
HAPROXY=$(PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin command -v haproxy) ||
	die "haproxy is not installed: run \`make deps\` or apt-get install redis-server haproxy"

port_vars=(CLUSTER_REDIS_PORT CLUSTER_HTTP_PORT CLUSTER_MQTT_PORT CLUSTER_STATS_PORT
	CLUSTER_R1_HTTP_PORT CLUSTER_R2_HTTP_PORT CLUSTER_R3_HTTP_PORT
	CLUSTER_R1_MQTT_PORT CLUSTER_R2_MQTT_PORT CLUSTER_R3_MQTT_PORT)
declare -A seen=()
for v in "${port_vars[@]}"; do
	p=${!v}
	[[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || die "$v=$p is not a port number"
	[[ -z ${seen[$p]:-} ]] || die "$v and ${seen[$p]} are both $p"
	seen[$p]=$v
	# Something answering on it now would take our clients.
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "127.0.0.1:$p ($v) is in use; free it or set $v to another port"
	fi
done

if [[ -n ${CLUSTER_BIN:-} ]]; then
	BIN=$CLUSTER_BIN
	[[ -x $BIN ]] || die "CLUSTER_BIN=$BIN is not an executable file"
else
	BIN=$ROOT/bin/junction
	if [[ ! -x $BIN ]]; then
		echo "building $BIN"
		if command -v make >/dev/null; then
			make -C "$ROOT" --no-print-directory build
		else
			(cd "$ROOT" && go build -o bin/junction ./cmd/junction)
		fi
	fi
fi

# --- process bookkeeping ----------------------------------------------------------

DIR=$(mktemp -d "${TMPDIR:-/tmp}/junction-cluster.XXXXXX")
declare -A NAME=() # pid -> what it is, for every child still running
HAPROXY_PID="" REDIS_PID=""
ROUTER_PIDS=()

# stop sends SIGTERM to the given children and reaps them; any still running
# after $1 seconds gets SIGKILL.
stop() {
	local timeout=$1 p live=() left
	shift
	for p in "$@"; do
		[[ -n $p && -n ${NAME[$p]:-} ]] && live+=("$p")
	done
	((${#live[@]})) || return 0
	kill -TERM "${live[@]}" 2>/dev/null || true
	local deadline=$((SECONDS + timeout))
	while :; do
		left=()
		for p in "${live[@]}"; do
			if alive "$p"; then left+=("$p"); fi
		done
		((${#left[@]})) || return 0
		live=("${left[@]}")
		((SECONDS < deadline)) || break
		sleep 0.1
	done
	echo "run.sh: still running after ${timeout}s, killing: ${live[*]}" >&2
	kill -KILL "${live[@]}" 2>/dev/null || true
	for p in "${live[@]}"; do
		wait "$p" 2>/dev/null || true
		unset "NAME[$p]"
	done
}

cleanup() {
	local status=$?
	trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
	if ((${#NAME[@]})); then
		echo "stopping: ${NAME[*]}"
	fi
	stop 5 "$HAPROXY_PID"
	stop 20 "${ROUTER_PIDS[@]}" # each drains for up to shutdown.drain_timeout (10s)
	stop 5 "$REDIS_PID"
	if [[ ${CLUSTER_KEEP:-} == 1 ]]; then
		echo "kept $DIR"
	else
		rm -rf "$DIR"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP # the terminal went away

# started NAME PID records a child.
started() { NAME[$2]=$1; }

# alive PID fails once the child has exited, and then reaps it (a zombie
# counts as exited) and forgets it.
alive() {
	local st=""
	if [[ -r /proc/$1/stat ]]; then
		st=$(</proc/"$1"/stat) && st=${st##*) } && st=${st%% *} || st=""
	elif kill -0 "$1" 2>/dev/null; then
		st=$(ps -o stat= -p "$1" 2>/dev/null) || st=R
	fi
	if [[ -n $st && $st != Z* ]]; then
		return 0
	fi
	wait "$1" 2>/dev/null || true
	unset "NAME[$1]"
	return 1
}

# request PORT TEXT: sends TEXT to 127.0.0.1:PORT and prints the answer,
# read until the peer closes (at most 3s), without the CRs. Fails if nothing
# listens.
request() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%b' "$2" >&"$fd"
	timeout 3 cat <&"$fd" | tr -d '\r'
	exec {fd}>&-
}

http_get() { request "$1" "GET $2 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"; }

# await WHAT PID CHECK...: runs CHECK until it succeeds, failing if the child
# PID exits first or START_TIMEOUT passes.
await() {
	local what=$1 pid=$2 log=$3
	shift 3
	local deadline=$((SECONDS + START_TIMEOUT))
	until "$@" 2>/dev/null; do
		if ! alive "$pid"; then
			echo "run.sh: $what exited while starting; the end of $log:" >&2
			tail -n 20 "$log" >&2 || true
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "run.sh: $what not ready after ${START_TIMEOUT}s; the end of $log:" >&2
			tail -n 20 "$log" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

# --- Redis ------------------------------------------------------------------------

mkdir "$DIR/redis"
"$REDIS_SERVER" --bind 127.0.0.1 --port "$CLUSTER_REDIS_PORT" --dir "$DIR/redis" \
	--save "" --appendonly no --daemonize no --logfile "$DIR/redis.log" </dev/null &
REDIS_PID=$!
started redis "$REDIS_PID"
redis_pong() { [[ $(request "$CLUSTER_REDIS_PORT" 'PING\r\nQUIT\r\n') == +PONG* ]]; }
await "redis-server" "$REDIS_PID" "$DIR/redis.log" redis_pong

# --- the routers ------------------------------------------------------------------

REDIS_URL=redis://127.0.0.1:$CLUSTER_REDIS_PORT
# HAProxy (on 127.0.0.1) sends each connection's client address in a PROXY
# protocol v2 header (send-proxy-v2 in haproxy.cfg): the routers log,
# count, throttle and authorize clients by their own addresses, so one
# client's bad logins lock out that client only. Connections from
# 127.0.0.1 without a header (this script's checks, a curl of /metrics)
# are still served as themselves. A JUNCTION_* of yours overrides these.
export JUNCTION_HTTP_PROXY_PROTOCOL=${JUNCTION_HTTP_PROXY_PROTOCOL:-true}
export JUNCTION_HTTP_TRUSTED_PROXIES=${JUNCTION_HTTP_TRUSTED_PROXIES:-'["127.0.0.1"]'}
export JUNCTION_MQTT_PROXY_PROTOCOL=${JUNCTION_MQTT_PROXY_PROTOCOL:-true}
export JUNCTION_MQTT_TRUSTED_PROXIES=${JUNCTION_MQTT_TRUSTED_PROXIES:-'["127.0.0.1"]'}
for n in 1 2 3; do
	http_var=CLUSTER_R${n}_HTTP_PORT mqtt_var=CLUSTER_R${n}_MQTT_PORT
	"$BIN" serve --redis "$REDIS_URL" --node-id "r$n" \
		--http "127.0.0.1:${!http_var}" --mqtt "127.0.0.1:${!mqtt_var}" \
		</dev/null >"$DIR/r$n.log" 2>&1 &
	ROUTER_PIDS+=($!)
	started "r$n" $!
done

# Ready (/readyz 200, "federation: up"), and federated with both others
# (junction_federation_remote_routers 2): a client on any router reaches all.
federated() {
	local body
	body=$(http_get "$1" /readyz) || return 1
	[[ $body == HTTP/1.[01]\ 200* && $body == *$'\nready\n'* && $body == *$'\nfederation: up'* ]] || return 1
	body=$(http_get "$1" /metrics) || return 1
	[[ $body == *$'\njunction_federation_remote_routers 2\n'* ]]
}
for n in 1 2 3; do
	http_var=CLUSTER_R${n}_HTTP_PORT
	await "router r$n" "${ROUTER_PIDS[n - 1]}" "$DIR/r$n.log" federated "${!http_var}"
done

# --- HAProxy ----------------------------------------------------------------------

CFG=$HERE/haproxy.cfg
"$HAPROXY" -c -q -f "$CFG" || die "haproxy rejected $CFG"
# Its log (servers going up and down) goes to stdout, here; its own
# messages to a file.
"$HAPROXY" -db -f "$CFG" </dev/null 2>"$DIR/haproxy.log" &
HAPROXY_PID=$!
started haproxy "$HAPROXY_PID"

# Ready when the stats page lists all six servers UP (r1..r3 in both pools).
servers_up() {
	local csv
	csv=$(http_get "$CLUSTER_STATS_PORT" '/;csv') || return 1
	[[ $(grep -cE '^routers_(http|mqtt),r[123],([^,]*,){15}UP,' <<<"$csv") == 6 ]]
}
await "haproxy" "$HAPROXY_PID" "$DIR/haproxy.log" servers_up

# --- tell, then wait ----------------------------------------------------------------

fate=removed
if [[ ${CLUSTER_KEEP:-} == 1 ]]; then fate=kept; fi

cat <<EOF

Junction cluster on 127.0.0.1 (working directory $DIR, $fate on exit):
  redis    redis://127.0.0.1:$CLUSTER_REDIS_PORT  no persistence                pid $REDIS_PID
  r1       http://127.0.0.1:$CLUSTER_R1_HTTP_PORT  mqtt://127.0.0.1:$CLUSTER_R1_MQTT_PORT  log r1.log  pid ${ROUTER_PIDS[0]}
  r2       http://127.0.0.1:$CLUSTER_R2_HTTP_PORT  mqtt://127.0.0.1:$CLUSTER_R2_MQTT_PORT  log r2.log  pid ${ROUTER_PIDS[1]}
  r3       http://127.0.0.1:$CLUSTER_R3_HTTP_PORT  mqtt://127.0.0.1:$CLUSTER_R3_MQTT_PORT  log r3.log  pid ${ROUTER_PIDS[2]}
  haproxy  http://127.0.0.1:$CLUSTER_HTTP_PORT  mqtt://127.0.0.1:$CLUSTER_MQTT_PORT  stats http://127.0.0.1:$CLUSTER_STATS_PORT/  pid $HAPROXY_PID

Connect through HAProxy (any router), or to one router on its own ports:
  WAMP   ws://127.0.0.1:$CLUSTER_HTTP_PORT/ws  realm realm1
  MQTT   mosquitto_sub -h 127.0.0.1 -p $CLUSTER_MQTT_PORT -t 'devices/#' -v
         mosquitto_pub -h 127.0.0.1 -p $CLUSTER_R1_MQTT_PORT -t devices/7/temp -m 21.5
  state  curl 127.0.0.1:$CLUSTER_R1_HTTP_PORT/readyz; curl -s 127.0.0.1:$CLUSTER_R1_HTTP_PORT/metrics | grep junction_federation
  logs   tail -f $DIR/r1.log
ready: Ctrl-C stops everything
EOF

while ((${#NAME[@]})); do
	status=0
	pid=""
	wait -n -p pid 2>/dev/null || status=$? # (no "Killed" notice from bash: we say it below)
	if [[ -z $pid ]]; then
		# Nothing was reaped: a signal interrupted the wait (its trap
		# exits), or no child is left.
		((status == 127)) && break
		continue
	fi
	if [[ -n ${NAME[$pid]:-} ]]; then
		how="exited with status $status"
		if ((status > 128)); then
			how="was killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo "NAL $((status - 128))")"
		fi
		echo "${NAME[$pid]} (pid $pid) $how; the others keep running (Ctrl-C stops them)"
		unset "NAME[$pid]"
	fi
done
echo "every process has exited"
