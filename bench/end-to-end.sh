#!/usr/bin/env bash
# Benchmarks the whole path on this machine: myKaarma -> Receiver -> RabbitMQ -> Relay -> PostgreSQL outbox -> subscribers.
#
#   bench/end-to-end.sh [--concurrency N] [--rate R] [--duration T] [--warmup T] ...   (passed to the bench)
#
# Makes RabbitMQ and PostgreSQL available (scripts/local-services.sh), builds in Release, creates a database and a
# queue (with its own topology prefix) for this run only, starts the Receiver and the Relay on 127.0.0.1 in the
# Production environment with generated secrets and five subscribers pointing at sinks inside the bench process,
# measures the RabbitMQ ceiling (LoadGen raw), then runs bench/EndToEnd: closed loop (delivered/s), open loop at
# 500 events/s (end-to-end latency), outbox ceiling. On the way out, also after an error or Ctrl+C, it stops what it
# started by pid, deletes the queue and its exchanges and drops the database.
# Results: bench/results/end-to-end-<timestamp>.json, the services' logs beside it.
# Environment: E2E_SUBSCRIBER_CONCURRENCY (requests in flight per subscriber, default 64), E2E_RELAY_POOL (the Relay's
# PostgreSQL connections at most, default 40).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

readonly RECEIVER_DIR="$ROOT/Receiver/bin/Release/net10.0"
readonly RELAY_DIR="$ROOT/Relay/bin/Release/net10.0"
readonly LOADGEN_DLL="$ROOT/bench/LoadGen/bin/Release/net10.0/Aspire.Webhooks.LoadGen.dll"
readonly BENCH_DLL="$ROOT/bench/EndToEnd/bin/Release/net10.0/Aspire.Webhooks.EndToEndBench.dll"
readonly RESULTS_DIR="$ROOT/bench/results"
readonly HEALTH_WAIT_SECONDS=${BENCH_HEALTH_WAIT:-90}
readonly STOP_WAIT_SECONDS=15
# The appointment sample's department: the subscriber filtering on it receives the appointment events.
readonly SERVICE_DEPARTMENT=8ec821aefe98664ab15df7c426c3c46f9c37d0b1aeda9ff58df3db89bb0a55a3

log() { printf 'end-to-end: %s\n' "$*" >&2; }
die() { printf 'end-to-end: ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

STAMP=$(date -u +%Y%m%d-%H%M%S)
RUN_DIR="$RESULTS_DIR/end-to-end-$STAMP"
RECEIVER_PID=""
RELAY_PID=""
QUEUE=""
DATABASE=""
PG_ADMIN=()

stop_pid() {
  local name=$1 pid=$2
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  log "stopping the $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited < STOP_WAIT_SECONDS * 10 )); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "the $name did not stop within ${STOP_WAIT_SECONDS}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid Relay "$RELAY_PID"
  stop_pid Receiver "$RECEIVER_PID"
  # After both stopped, so neither declares the queue again behind our back. Everything named after the queue is
  # this run's: the queue, its _error/_skipped queues, and the exchanges under its topology prefix.
  if [[ -n $QUEUE && -f $BENCH_DLL ]]; then
    local args=() name
    while read -r name; do [[ $name == "$QUEUE"* ]] && args+=(--queue "$name"); done \
      < <(rabbitmqctl -q list_queues name 2>/dev/null | tail -n +2 || true)
    while read -r name; do [[ $name == "$QUEUE"* ]] && args+=(--exchange "$name"); done \
      < <(rabbitmqctl -q list_exchanges name 2>/dev/null | tail -n +2 || true)
    if (( ${#args[@]} > 0 )); then
      dotnet "$BENCH_DLL" cleanup "${args[@]}" >&2 \
        || log "WARNING: could not delete queue $QUEUE and its exchanges; see: rabbitmqctl list_queues / list_exchanges"
    fi
  fi
  if [[ -n $DATABASE ]]; then
    if "${PG_ADMIN[@]}" -c "drop database if exists \"$DATABASE\" with (force)" >/dev/null; then
      log "dropped database $DATABASE"
    else
      log "WARNING: could not drop database $DATABASE"
    fi
  fi
  if (( status != 0 )); then
    for f in "$RUN_DIR"/relay.log "$RUN_DIR"/receiver.log; do
      [[ -s $f ]] && { log "last lines of $f:"; tail -n 20 "$f" >&2 || true; }
    done
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pick_port() {
  local port
  for port in $(seq "$1" $(( $1 + 100 ))); do
    if ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  die "no free port from $1 on 127.0.0.1"
}

wait_healthy() {
  local name=$1 pid=$2 port=$3
  local deadline=$(( $(date +%s) + HEALTH_WAIT_SECONDS ))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true) == 200 ]]; do
    kill -0 "$pid" 2>/dev/null || die "the $name exited during start-up"
    (( $(date +%s) < deadline )) || die "the $name was not healthy within ${HEALTH_WAIT_SECONDS}s"
    sleep 0.5
  done
  log "the $name is healthy"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# --- services and build ---------------------------------------------------------------------------
eval "$(bash scripts/local-services.sh --env)"
[[ -n ${ConnectionStrings__messaging:-} && -n ${ConnectionStrings__relaydb:-} ]] \
  || die "scripts/local-services.sh did not give both connection strings"

log "building the Receiver, the Relay, LoadGen and the end-to-end bench (Release)"
for project in Receiver/Receiver.csproj Relay/Relay.csproj bench/LoadGen/LoadGen.csproj bench/EndToEnd/EndToEnd.csproj; do
  dotnet build "$project" -c Release -nologo -v quiet -clp:ErrorsOnly
done

# --- a database and a queue of this run's own -------------------------------------------------------
declare -A PG=()
IFS=';' read -ra parts <<<"$ConnectionStrings__relaydb"
for part in "${parts[@]}"; do
  [[ $part == *=* ]] && PG[${part%%=*}]=${part#*=}
done
export PGPASSWORD=${PG[Password]:-}
PG_ADMIN=(psql -X -q -v ON_ERROR_STOP=1 -h "${PG[Host]:-127.0.0.1}" -p "${PG[Port]:-5432}" -U "${PG[Username]:-webhooks}" -d postgres)
mkdir -p "$RUN_DIR"
DATABASE="relaybench_${STAMP//-/_}_$$"
"${PG_ADMIN[@]}" -c "create database \"$DATABASE\"" || { DATABASE=""; die "could not create the bench database"; }
BENCH_DB="Host=${PG[Host]:-127.0.0.1};Port=${PG[Port]:-5432};Username=${PG[Username]:-webhooks};Password=${PGPASSWORD};Database=$DATABASE"
# The server's connection slots are shared with everything else on this machine (tests make databases of their own):
# the Relay gets a bounded pool, so a run neither starves them nor fails for want of a slot they hold.
RELAY_DB="$BENCH_DB;Maximum Pool Size=${E2E_RELAY_POOL:-40}"
QUEUE="bench-e2e-$(date +%s)-$$"
log "database $DATABASE, queue $QUEUE, logs in $RUN_DIR"

RECEIVER_PORT=$(pick_port 5180)
RELAY_PORT=$(pick_port $(( RECEIVER_PORT + 1 )))
SINK_PORT=$(pick_port $(( RELAY_PORT + 1 )))

# Generated per run and handed over through the environment, never on a command line (ps shows those).
MyKaarma__AuthorizationTokens__0="bench-$(random_hex 16)"
MyKaarma__SigningSecrets__0=$(random_hex 32)
export MyKaarma__AuthorizationTokens__0 MyKaarma__SigningSecrets__0
export Messaging__EventsQueue="$QUEUE" Messaging__TopologyPrefix="$QUEUE."
# The Relay's own consumer concurrency, given to the outbox ceiling too (the Relay sees the value it already has).
Messaging__ConcurrentMessageLimit=$(jq -r '.Messaging.ConcurrentMessageLimit // 32' Relay/appsettings.json)
export Messaging__ConcurrentMessageLimit

SUBSCRIBERS=()
add_subscriber() {
  local index=$1 name=$2; shift 2
  local prefix="Relay__Subscribers__${index}__"
  SUBSCRIBERS+=("${prefix}Name=$name" "${prefix}Url=http://127.0.0.1:$SINK_PORT/sink/$name"
    "${prefix}Secret=whsec_$(head -c 32 /dev/urandom | base64 -w0)"
    "${prefix}MaxConcurrency=${E2E_SUBSCRIBER_CONCURRENCY:-64}")
  local filter
  for filter in "$@"; do SUBSCRIBERS+=("${prefix}Filter__$filter"); done
}
add_subscriber 0 all
add_subscriber 1 customers EventTypes__0=customers
add_subscriber 2 rescheduled EventTypes__0=appointments AppointmentEvents__0=RESCHEDULED
add_subscriber 3 service-department "Departments__0=$SERVICE_DEPARTMENT"
add_subscriber 4 service-orders EventTypes__0=service-orders

# --- Receiver and Relay -----------------------------------------------------------------------------
log "starting the Receiver on http://127.0.0.1:$RECEIVER_PORT"
(
  cd "$RECEIVER_DIR"
  export ASPNETCORE_ENVIRONMENT=Production ASPNETCORE_URLS="http://127.0.0.1:$RECEIVER_PORT"
  export MyKaarma__AllowedIps__0=127.0.0.1 Logging__LogLevel__Default=Warning
  exec dotnet Aspire.Webhooks.Receiver.dll
) </dev/null >"$RUN_DIR/receiver.log" 2>&1 &
RECEIVER_PID=$!

log "starting the Relay on http://127.0.0.1:$RELAY_PORT (subscribers at http://127.0.0.1:$SINK_PORT/sink/*)"
(
  cd "$RELAY_DIR"
  export ASPNETCORE_ENVIRONMENT=Production ASPNETCORE_URLS="http://127.0.0.1:$RELAY_PORT"
  export ConnectionStrings__relaydb="$RELAY_DB" Logging__LogLevel__Default=Warning
  # The sinks listen on plain http on loopback, which a production Relay refuses by default.
  export Relay__AllowPrivateNetworkTargets=true Relay__RequireHttps=false
  exec env "${SUBSCRIBERS[@]}" dotnet Aspire.Webhooks.Relay.dll
) </dev/null >"$RUN_DIR/relay.log" 2>&1 &
RELAY_PID=$!

wait_healthy Receiver "$RECEIVER_PID" "$RECEIVER_PORT"
wait_healthy Relay "$RELAY_PID" "$RELAY_PORT"

watch=(--watch "receiver=$RECEIVER_PID" --watch "relay=$RELAY_PID")
if broker_pid=$(pgrep -u rabbitmq -x beam.smp | head -n 1) && [[ -n $broker_pid ]]; then
  watch+=(--watch "rabbitmq=$broker_pid")
fi
log "machine load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these cores skews the numbers)"

# --- the RabbitMQ ceiling, by LoadGen's raw mode (its own queue, deleted by LoadGen) --------------------
log "RabbitMQ ceiling: LoadGen raw"
dotnet "$LOADGEN_DLL" raw --duration 10s --warmup 3s --plain --results-dir "$RUN_DIR" \
  ${broker_pid:+--watch-pid "rabbitmq=$broker_pid"} >&2
raw_result=$(find "$RUN_DIR" -maxdepth 1 -name 'receiver-*.json' -print -quit)
[[ -n $raw_result ]] || log "WARNING: LoadGen wrote no result; the ratio to the broker ceiling is left out"

# --- the end-to-end runs ------------------------------------------------------------------------------
env "${SUBSCRIBERS[@]}" ConnectionStrings__relaydb="$BENCH_DB" \
  dotnet "$BENCH_DLL" run --receiver "http://127.0.0.1:$RECEIVER_PORT/webhooks/mykaarma" --sink-port "$SINK_PORT" \
  ${raw_result:+--broker-ceiling "$raw_result"} --results-dir "$RESULTS_DIR" "${watch[@]}" "$@"
