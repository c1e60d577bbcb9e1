#!/usr/bin/env bash
# Make RabbitMQ and PostgreSQL available on loopback (127.0.0.1) for development and tests.
#
#   scripts/local-services.sh            ensure both are installed, running and ready; print a summary
#   scripts/local-services.sh --env      same, but print only `export ...` lines (progress goes to stderr):
#                                          eval "$(scripts/local-services.sh --env)"
#   scripts/local-services.sh --stop     stop the servers this script started (marker files in the state dir)
#
# If ConnectionStrings__messaging (RabbitMQ) or ConnectionStrings__relaydb (PostgreSQL) is already set,
# that value is used as-is and the corresponding server is not touched at all.
#
# Uses Debian's `rabbitmq-server` and `postgresql` packages (installed with apt-get when missing; a
# temporary policy-rc.d keeps apt from auto-starting them). Everything is configured to listen on
# 127.0.0.1 only: AMQP 5672, Erlang distribution 25672, epmd 4369, CLI distribution ports, PostgreSQL.
# Must run as root (or as a user with sudo). Safe to run repeatedly: running servers are left alone.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

readonly RABBIT_URL_DEFAULT='amqp://guest:guest@127.0.0.1:5672/'
readonly PG_ROLE=webhooks
readonly PG_PASSWORD=webhooks
readonly PG_DATABASE=relaydb
readonly RABBIT_PORT=5672
readonly MARKER='aspire-webhooks local-services'
readonly STATE_DIR="${LOCAL_SERVICES_STATE_DIR:-/run/aspire-webhooks-local-services}"
readonly RABBIT_WAIT_SECONDS="${LOCAL_SERVICES_RABBIT_WAIT:-120}"
readonly PG_WAIT_SECONDS="${LOCAL_SERVICES_PG_WAIT:-60}"

MODE=summary
case "${1:-}" in
  "") ;;
  --env) MODE="env" ;;
  --stop) MODE="stop" ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--env|--stop]" >&2; exit 2 ;;
esac

# Keep the caller's stdout on fd 3 (only the final result goes there); everything else goes to stderr.
# Daemons must never inherit fd 3, or `$(local-services.sh --env)` would wait for them forever.
exec 3>&1 1>&2

log() { printf 'local-services: %s\n' "$*" >&2; }
die() { printf 'local-services: ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
elapsed() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }
shell_quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

if [[ $EUID -eq 0 ]]; then
  as_root() { "$@"; }
  as_postgres() { runuser -u postgres -- "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  as_root() { sudo -n -- "$@"; }
  as_postgres() { sudo -n -u postgres -- "$@"; }
else
  as_root() { die "must run as root (or with sudo) to run: $*"; }
  as_postgres() { as_root "$@"; }
fi

# Command output goes to a log file (named in error messages); stderr of this script stays readable.
LOG_FILE=/dev/null
init_log() {
  [[ $EUID -eq 0 ]] || command -v sudo >/dev/null 2>&1 || return 0
  as_root mkdir -p "$STATE_DIR" 2>/dev/null || return 0
  as_root touch "$STATE_DIR/local-services.log" 2>/dev/null || return 0
  [[ -w $STATE_DIR/local-services.log ]] && LOG_FILE="$STATE_DIR/local-services.log"
  return 0
}
log_cmd() { { printf '\n### %s: %s\n' "$(date -Is)" "$*" >>"$LOG_FILE"; } 2>/dev/null || true; }
# Run a command that may leave a daemon behind (rabbitmq-server, epmd via rabbitmqctl, postgres):
# no stdin, output appended to the log file, fd 3 closed.
quietly() {
  log_cmd "$@"
  "$@" </dev/null >>"$LOG_FILE" 2>&1 3>&-
}

mark_started() { as_root mkdir -p "$STATE_DIR" && as_root touch "$STATE_DIR/$1.started"; }

# ---------------------------------------------------------------------------------------------
# apt: install missing packages without letting their maintainer scripts start the services.
# ---------------------------------------------------------------------------------------------
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_BACKUP=""
POLICY_INSTALLED=0
restore_policy_rc() {
  [[ $POLICY_INSTALLED -eq 1 ]] || return 0
  if [[ -n $POLICY_BACKUP ]]; then
    as_root mv -f "$POLICY_BACKUP" "$POLICY_RC"
  else
    as_root rm -f "$POLICY_RC"
  fi
  POLICY_INSTALLED=0
}
trap restore_policy_rc EXIT

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these packages manually: $*"
  local start; start=$(now_ms)
  log "installing Debian packages: $* (apt-get update + install, services are not auto-started)"
  if [[ -e $POLICY_RC ]]; then
    POLICY_BACKUP=$(as_root mktemp)
    as_root cp -p "$POLICY_RC" "$POLICY_BACKUP"
  fi
  POLICY_INSTALLED=1
  printf '#!/bin/sh\n# temporary, written by scripts/local-services.sh while installing packages\nexit 101\n' \
    | as_root tee "$POLICY_RC" >/dev/null
  as_root chmod 0755 "$POLICY_RC"

  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q 3>&-
  # C.UTF-8 always exists on Debian; it keeps pg_createcluster (run by postinst) from tripping on an
  # unconfigured locale inherited from the caller.
  as_root env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" 3>&-
  restore_policy_rc
  log "packages installed in $(elapsed "$start")"
}

# Write a file only when its content differs; returns 0 if it changed.
write_if_changed() {
  local path=$1 content=$2
  if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then return 1; fi
  printf '%s\n' "$content" | as_root tee "$path" >/dev/null
  as_root chmod 0644 "$path"
  return 0
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------
RABBIT_ENV_BLOCK="# BEGIN $MARKER (managed by scripts/local-services.sh; loopback only)
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$RABBIT_PORT
ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"
CTL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"
# END $MARKER"

RABBIT_CONF_BLOCK="# BEGIN $MARKER (managed by scripts/local-services.sh; loopback only)
listeners.tcp.1 = 127.0.0.1:$RABBIT_PORT
distribution.listener.interface = 127.0.0.1
# only used if the management plugin is ever enabled (accepted even when it is not)
management.tcp.ip = 127.0.0.1
loopback_users.guest = true
# END $MARKER"

# Replace our marked block in a config file (or append it), keeping anything else the file contains.
ensure_block() {
  local path=$1 block=$2 current="" new
  [[ -f $path ]] && current=$(cat "$path")
  if [[ $current == *"# BEGIN $MARKER"* ]]; then
    new=$(printf '%s\n' "$current" | awk -v b="# BEGIN $MARKER" -v e="# END $MARKER" -v blk="$block" '
      index($0, b) == 1 { print blk; skip = 1; next }
      skip && index($0, e) == 1 { skip = 0; next }
      !skip { print }')
  elif [[ -n $current ]]; then
    new="$current"$'\n\n'"$block"
  else
    new=$block
  fi
  if write_if_changed "$path" "$new"; then
    log "wrote loopback-only settings to $path"
    return 0
  fi
  return 1
}

configure_rabbitmq() {
  as_root mkdir -p /etc/rabbitmq
  local changed=1
  ensure_block /etc/rabbitmq/rabbitmq-env.conf "$RABBIT_ENV_BLOCK" && changed=0
  ensure_block /etc/rabbitmq/rabbitmq.conf "$RABBIT_CONF_BLOCK" && changed=0
  if [[ -d /etc/systemd/system ]]; then
    # Debian's epmd.socket listens on all interfaces; restrict it in case systemd ever starts it.
    as_root mkdir -p /etc/systemd/system/epmd.socket.d
    if write_if_changed /etc/systemd/system/epmd.socket.d/loopback.conf \
      "# $MARKER: epmd on loopback only
[Socket]
ListenStream=
ListenStream=127.0.0.1:4369
BindIPv6Only=default"; then
      if [[ -d /run/systemd/system ]]; then as_root systemctl daemon-reload || true; fi
    fi
  fi
  return $changed
}

# rabbitmqctl as root re-executes itself as the rabbitmq user via `su`, which keeps this environment.
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

rabbit_ready() { # $1 = seconds to wait for the node to finish booting
  quietly as_root timeout $(( $1 + 20 )) rabbitmqctl -q await_startup --timeout "$1"
}

rabbit_node_process() { # is an Erlang VM of the rabbitmq user alive (booting, running or halting)?
  if command -v pgrep >/dev/null 2>&1; then pgrep -u rabbitmq -x beam.smp >/dev/null 2>&1; return; fi
  local uid d comm; uid=$(id -u rabbitmq 2>/dev/null) || return 1
  for d in /proc/[0-9]*; do   # procps is not installed on minimal images
    read -r comm <"$d/comm" 2>/dev/null || continue
    [[ $comm == beam.smp && $(stat -c %u "$d" 2>/dev/null) == "$uid" ]] && return 0
  done
  return 1
}

ensure_rabbitmq() {
  if [[ -n ${ConnectionStrings__messaging:-} ]]; then
    log "RabbitMQ: ConnectionStrings__messaging is set; using it and leaving RabbitMQ alone"
    RABBIT_STATE="external"
    return 0
  fi
  configure_rabbitmq && CONFIG_CHANGED_RABBIT=1 || CONFIG_CHANGED_RABBIT=0

  if rabbit_ready 5; then
    log "RabbitMQ: already running (rabbit@localhost)"
    RABBIT_STATE="already running"
    if [[ $CONFIG_CHANGED_RABBIT -eq 1 ]]; then
      log "RabbitMQ: WARNING: configuration changed while running; restart it to apply (rabbitmqctl stop, then rerun this script)"
    fi
    return 0
  fi
  if rabbit_node_process; then
    # Either still booting (becomes ready) or still halting after `rabbitmqctl stop` (goes away).
    log "RabbitMQ: a node process exists but is not ready; waiting up to ${RABBIT_WAIT_SECONDS}s for it to boot or exit"
    local deadline=$(( $(date +%s) + RABBIT_WAIT_SECONDS ))
    while rabbit_node_process; do
      if rabbit_ready 5; then
        log "RabbitMQ: running (rabbit@localhost)"
        RABBIT_STATE="already running"
        return 0
      fi
      if (( $(date +%s) >= deadline )); then
        die "RabbitMQ: a rabbitmq beam.smp process is running but 'rabbitmqctl await_startup' (node rabbit@localhost) fails.
  It may be a node started with another node name (e.g. rabbit@${HOSTNAME%%.*}) before this script configured
  /etc/rabbitmq; stop it (e.g. rabbitmqctl -n rabbit@${HOSTNAME%%.*} stop) and run this script again.
  See /var/log/rabbitmq/ and $LOG_FILE"
      fi
      sleep 1
    done
  fi

  local start; start=$(now_ms)
  log "RabbitMQ: starting (rabbitmq-server -detached, 127.0.0.1 only)"
  quietly as_root env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    rabbitmq-server -detached || die "RabbitMQ: 'rabbitmq-server -detached' failed; see /var/log/rabbitmq/ and $LOG_FILE"
  mark_started rabbitmq
  local deadline=$(( $(date +%s) + RABBIT_WAIT_SECONDS ))
  until rabbit_ready 10; do
    if (( $(date +%s) >= deadline )); then
      log "RabbitMQ: last lines of /var/log/rabbitmq/startup_err and the node log:"
      tail -n 20 /var/log/rabbitmq/startup_err /var/log/rabbitmq/rabbit@localhost.log 2>/dev/null >&2 || true
      die "RabbitMQ: not ready after ${RABBIT_WAIT_SECONDS}s (rabbitmqctl await_startup kept failing); see /var/log/rabbitmq/"
    fi
    sleep 1
  done
  log "RabbitMQ: ready after $(elapsed "$start")"
  RABBIT_STATE="started ($(elapsed "$start"))"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
PG_VERSION="" PG_CLUSTER="" PG_PORT="" PG_STATUS=""
pg_find_cluster() { # prefer a cluster named main, newest version first
  local line
  line=$(pg_lsclusters -h 2>/dev/null | sort -k1,1nr | awk '$2 == "main" { print; exit }')
  [[ -n $line ]] || line=$(pg_lsclusters -h 2>/dev/null | sort -k1,1nr | head -n 1)
  [[ -n $line ]] || return 1
  read -r PG_VERSION PG_CLUSTER PG_PORT PG_STATUS _ <<<"$line"
}

pg_sql() { # run SQL from stdin as the postgres superuser over the Unix socket
  log_cmd psql -p "$PG_PORT" -d postgres
  (cd / && as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >>"$LOG_FILE" 2>&1 3>&-)
}

ensure_postgresql() {
  if [[ -n ${ConnectionStrings__relaydb:-} ]]; then
    log "PostgreSQL: ConnectionStrings__relaydb is set; using it and leaving PostgreSQL alone"
    PG_STATE="external"
    return 0
  fi
  if ! pg_find_cluster; then
    local ver
    ver=$(printf '%s\n' /usr/lib/postgresql/*/bin/postgres | awk -F/ '{ print $5 }' | sort -n | tail -n 1)
    [[ -x /usr/lib/postgresql/$ver/bin/postgres ]] || die "PostgreSQL: no server version found under /usr/lib/postgresql"
    log "PostgreSQL: no cluster found; creating $ver/main"
    quietly as_root env LANG=C.UTF-8 LC_ALL=C.UTF-8 pg_createcluster "$ver" main \
      || die "PostgreSQL: pg_createcluster $ver main failed; see $LOG_FILE"
    pg_find_cluster || die "PostgreSQL: cluster $ver/main not visible in pg_lsclusters"
  fi

  local confdir="/etc/postgresql/$PG_VERSION/$PG_CLUSTER" changed=0
  [[ -d $confdir ]] || die "PostgreSQL: configuration directory $confdir not found"
  as_root mkdir -p "$confdir/conf.d"
  if write_if_changed "$confdir/conf.d/50-aspire-webhooks-loopback.conf" \
    "# $MARKER (managed by scripts/local-services.sh): TCP on loopback only
listen_addresses = '127.0.0.1'"; then
    as_root chown postgres:postgres "$confdir/conf.d/50-aspire-webhooks-loopback.conf" 2>/dev/null || true
    log "PostgreSQL: wrote listen_addresses = '127.0.0.1' to $confdir/conf.d/"
    changed=1
  fi
  if ! as_root grep -Eq "^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\.d'" "$confdir/postgresql.conf"; then
    printf "\ninclude_dir = 'conf.d'\t# added by scripts/local-services.sh\n" | as_root tee -a "$confdir/postgresql.conf" >/dev/null
    changed=1
  fi

  if [[ $PG_STATUS == online* ]]; then
    log "PostgreSQL: cluster $PG_VERSION/$PG_CLUSTER already running on port $PG_PORT"
    PG_STATE="already running"
    if [[ $changed -eq 1 ]]; then
      log "PostgreSQL: WARNING: listen_addresses changed while running; restart to apply (pg_ctlcluster $PG_VERSION $PG_CLUSTER restart)"
    fi
  else
    local start; start=$(now_ms)
    log "PostgreSQL: starting cluster $PG_VERSION/$PG_CLUSTER (pg_ctlcluster $PG_VERSION $PG_CLUSTER start)"
    quietly as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || {
      tail -n 20 "/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log" >&2 2>/dev/null || true
      die "PostgreSQL: pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed; see /var/log/postgresql/ and $LOG_FILE"
    }
    mark_started "postgresql-$PG_VERSION-$PG_CLUSTER"
    PG_STATE="started"
    PG_START_MS=$start
  fi

  local deadline=$(( $(date +%s) + PG_WAIT_SECONDS ))
  until pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 </dev/null 3>&-; do
    if (( $(date +%s) >= deadline )); then
      tail -n 20 "/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log" >&2 2>/dev/null || true
      die "PostgreSQL: not accepting connections on 127.0.0.1:$PG_PORT after ${PG_WAIT_SECONDS}s (pg_isready); see /var/log/postgresql/"
    fi
    sleep 0.5
  done
  if [[ $PG_STATE == started ]]; then
    log "PostgreSQL: ready after $(elapsed "$PG_START_MS")"
    PG_STATE="started ($(elapsed "$PG_START_MS"))"
  fi

  # Login role (CREATEDB: tests create their own databases) and the relay database, idempotently.
  pg_sql <<SQL || die "PostgreSQL: could not create role '$PG_ROLE' / database '$PG_DATABASE'; see $LOG_FILE"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = '$PG_DATABASE')\gexec
ALTER DATABASE $PG_DATABASE OWNER TO $PG_ROLE;
SQL
  PGPASSWORD=$PG_PASSWORD quietly psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" -Atc 'select 1' \
    || die "PostgreSQL: cannot log in as $PG_ROLE@127.0.0.1:$PG_PORT/$PG_DATABASE with a password (check pg_hba.conf)"
}

init_log

# ---------------------------------------------------------------------------------------------
# --stop
# ---------------------------------------------------------------------------------------------
if [[ $MODE == stop ]]; then
  stopped=0
  if [[ -e $STATE_DIR/rabbitmq.started ]]; then
    log "RabbitMQ: stopping (rabbitmqctl stop)"
    quietly as_root rabbitmqctl -q stop || log "RabbitMQ: rabbitmqctl stop failed (already stopped?)"
    for _ in $(seq 1 60); do rabbit_node_process || break; sleep 0.5; done   # stop returns before beam exits
    as_root rm -f "$STATE_DIR/rabbitmq.started"; stopped=1
  fi
  for marker in "$STATE_DIR"/postgresql-*.started; do
    [[ -e $marker ]] || continue
    name=${marker##*/postgresql-}; name=${name%.started}   # e.g. 15-main
    log "PostgreSQL: stopping cluster ${name%%-*}/${name#*-} (pg_ctlcluster stop)"
    quietly as_root pg_ctlcluster "${name%%-*}" "${name#*-}" stop || log "PostgreSQL: pg_ctlcluster stop failed (already stopped?)"
    as_root rm -f "$marker"; stopped=1
  done
  [[ $stopped -eq 1 ]] || log "nothing to stop (no server was started by this script)"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
RABBIT_STATE="" PG_STATE="" PG_START_MS=0 CONFIG_CHANGED_RABBIT=0
missing=()
if [[ -z ${ConnectionStrings__messaging:-} ]] && ! command -v rabbitmqctl >/dev/null 2>&1; then
  configure_rabbitmq || true   # before installing, so even an accidental start is loopback-only
  missing+=(rabbitmq-server)
fi
if [[ -z ${ConnectionStrings__relaydb:-} ]] && { ! command -v pg_lsclusters >/dev/null 2>&1 || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }; then
  missing+=(postgresql)
fi
(( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"

ensure_rabbitmq
ensure_postgresql

MESSAGING=${ConnectionStrings__messaging:-$RABBIT_URL_DEFAULT}
RELAYDB=${ConnectionStrings__relaydb:-"Host=127.0.0.1;Port=$PG_PORT;Username=$PG_ROLE;Password=$PG_PASSWORD;Database=$PG_DATABASE"}

# Report anything on our ports that is not bound to loopback (best effort; needs `ss` from iproute2).
if command -v ss >/dev/null 2>&1; then
  exposed=$(ss -Hltn 2>/dev/null | awk -v ports=":$RABBIT_PORT :25672 :4369 :${PG_PORT:-5432}" '
    { addr = $4; n = split(addr, parts, ":"); port = ":" parts[n] }
    index(" " ports " ", " " port " ") && addr !~ /^(127\.|\[::1\]|::1)/ { print addr }' | sort -u | tr '\n' ' ')
  [[ -z $exposed ]] || log "WARNING: listening on non-loopback addresses: $exposed"
fi

if [[ $MODE == env ]]; then
  printf 'export ConnectionStrings__messaging=%s\n' "$(shell_quote "$MESSAGING")" >&3
  printf 'export ConnectionStrings__relaydb=%s\n' "$(shell_quote "$RELAYDB")" >&3
else
  {
    echo "Local services are ready (loopback only):"
    echo "  RabbitMQ   : ${RABBIT_STATE}"
    echo "  PostgreSQL : ${PG_STATE}${PG_VERSION:+ (cluster $PG_VERSION/$PG_CLUSTER)}"
    echo
    echo "  ConnectionStrings__messaging=$MESSAGING"
    echo "  ConnectionStrings__relaydb=$RELAYDB"
    echo
    echo "Use them in this shell with:  eval \"\$(scripts/local-services.sh --env)\""
    echo "Stop what this script started: scripts/local-services.sh --stop"
  } >&3
fi
