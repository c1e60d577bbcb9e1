#!/usr/bin/env bash
# Benchmarks the Receiver on this machine against a local RabbitMQ, end to end over HTTP.
#
#   bench/receiver.sh [all|raw|raw-open|closed|open] [--concurrency N] [--rate R] [--duration T] [--warmup T] [--plain] ...
#
# Makes RabbitMQ available (scripts/local-services.sh), builds the Receiver and bench/LoadGen in Release, starts
# the Receiver on 127.0.0.1 with a queue of its own and a freshly generated token and signing secret, waits for
# /health, runs LoadGen (mode `all` unless another is given first; every other argument is passed through),
# then stops the Receiver and deletes its queue, also when something fails on the way.
# Results: bench/results/receiver-<timestamp>.json, the Receiver's log beside it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

readonly RECEIVER_DIR="$ROOT/Receiver/bin/Release/net10.0"
readonly LOADGEN_DLL="$ROOT/bench/LoadGen/bin/Release/net10.0/Aspire.Webhooks.LoadGen.dll"
readonly RESULTS_DIR="$ROOT/bench/results"
readonly HEALTH_WAIT_SECONDS=${BENCH_HEALTH_WAIT:-60}
readonly STOP_WAIT_SECONDS=10

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

MODE=all
case "${1:-}" in
  all|raw|raw-open|closed|open) MODE=$1; shift ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

# A free loopback port, so a developer's own Receiver on the usual port is left alone.
pick_port() {
  local port
  for port in $(seq 5180 5280); do
    if ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  die "no free port between 5180 and 5280 on 127.0.0.1"
}

RECEIVER_PID=""
QUEUE=""
RECEIVER_LOG=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $RECEIVER_PID ]] && kill -0 "$RECEIVER_PID" 2>/dev/null; then
    log "stopping the Receiver (pid $RECEIVER_PID)"
    kill -TERM "$RECEIVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$RECEIVER_PID" 2>/dev/null && (( waited < STOP_WAIT_SECONDS * 10 )); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$RECEIVER_PID" 2>/dev/null; then
      log "the Receiver did not stop within ${STOP_WAIT_SECONDS}s; killing it"
      kill -KILL "$RECEIVER_PID" 2>/dev/null || true
    fi
    wait "$RECEIVER_PID" 2>/dev/null || true
  fi
  # After the Receiver stopped, so it cannot declare the queue again behind our back.
  if [[ -n $QUEUE && -f $LOADGEN_DLL ]]; then
    dotnet "$LOADGEN_DLL" cleanup --queue "$QUEUE" >&2 \
      || log "WARNING: could not delete queue $QUEUE; delete it with: rabbitmqctl delete_queue $QUEUE"
  fi
  if (( status != 0 )) && [[ -n $RECEIVER_LOG && -s $RECEIVER_LOG ]]; then
    log "last lines of the Receiver's log ($RECEIVER_LOG):"
    tail -n 30 "$RECEIVER_LOG" >&2 || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- services -------------------------------------------------------------------------------------
[[ -x scripts/local-services.sh ]] || die "scripts/local-services.sh is missing; it makes RabbitMQ available"
eval "$(scripts/local-services.sh --env)"
[[ -n ${ConnectionStrings__messaging:-} ]] || die "scripts/local-services.sh did not give ConnectionStrings__messaging"

# --- build ----------------------------------------------------------------------------------------
log "building the Receiver and LoadGen (Release)"
dotnet build Receiver/Receiver.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build bench/LoadGen/LoadGen.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
[[ -f $RECEIVER_DIR/Aspire.Webhooks.Receiver.dll ]] || die "the Receiver was not built to $RECEIVER_DIR"

# --- Receiver -------------------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
PORT=$(pick_port)
QUEUE="bench-events-$(date +%s)-$$"
RECEIVER_LOG="$RESULTS_DIR/receiver-$(date -u +%Y%m%d-%H%M%S).log"

# Generated per run and given to both sides through the environment, never on a command line (ps shows those).
MyKaarma__AuthorizationTokens__0="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
MyKaarma__SigningSecrets__0=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export MyKaarma__AuthorizationTokens__0 MyKaarma__SigningSecrets__0

log "starting the Receiver on http://127.0.0.1:$PORT (queue $QUEUE, log $RECEIVER_LOG)"
# The output folder is the content root, so appsettings.json applies as in production; `exec` keeps the pid.
(
  cd "$RECEIVER_DIR"
  export ASPNETCORE_ENVIRONMENT=Production
  export ASPNETCORE_URLS="http://127.0.0.1:$PORT"
  export MyKaarma__AllowedIps__0=127.0.0.1
  export Messaging__EventsQueue="$QUEUE"
  # Exchanges of its own: the unprefixed message-type exchanges are shared with every other Receiver and test
  # run on this broker, and the queues bound to them there (mykaarma-events, test queues) would each store a copy
  # of every bench event, multiplying the broker's work and filling other people's queues.
  export Messaging__TopologyPrefix="$QUEUE."
  export Logging__LogLevel__Default=Warning
  exec dotnet Aspire.Webhooks.Receiver.dll
) </dev/null >"$RECEIVER_LOG" 2>&1 &
RECEIVER_PID=$!

deadline=$(( $(date +%s) + HEALTH_WAIT_SECONDS ))
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/health" || true) == 200 ]]; do
  kill -0 "$RECEIVER_PID" 2>/dev/null || die "the Receiver exited during start-up"
  (( $(date +%s) < deadline )) || die "the Receiver was not healthy within ${HEALTH_WAIT_SECONDS}s"
  sleep 0.5
done
log "the Receiver is healthy"

# --- load -----------------------------------------------------------------------------------------
watch=(--watch-pid "receiver=$RECEIVER_PID")
if broker_pid=$(pgrep -u rabbitmq -x beam.smp | head -n 1) && [[ -n $broker_pid ]]; then
  watch+=(--watch-pid "rabbitmq=$broker_pid")
fi
log "machine load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these cores skews the numbers)"

dotnet "$LOADGEN_DLL" "$MODE" --url "http://127.0.0.1:$PORT/webhooks/mykaarma" --results-dir "$RESULTS_DIR" --queue "$QUEUE" \
  "${watch[@]}" "$@"
