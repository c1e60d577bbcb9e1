#!/usr/bin/env bash
# The run command (see README): make RabbitMQ and PostgreSQL available on loopback
# (scripts/local-services.sh), then run the whole system under the Aspire AppHost: Receiver, Relay and
# the demo subscriber, with the Aspire dashboard. The dashboard's login URL is printed once it is up.
# Stop it with Ctrl+C (or SIGTERM). Extra arguments are passed to the AppHost.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Capture first: `eval "$(...)"` alone would hide a failure of local-services.sh.
service_env=$(bash scripts/local-services.sh --env)
eval "$service_env"
echo "run.sh: ConnectionStrings__messaging=${ConnectionStrings__messaging:?}" >&2
echo "run.sh: ConnectionStrings__relaydb=${ConnectionStrings__relaydb:?}" >&2

# Without a trusted development certificate the dashboard and its telemetry endpoint run over plain
# HTTP on loopback.
export ASPIRE_ALLOW_UNSECURED_TRANSPORT=true

exec dotnet run --project AppHost --launch-profile http -- "$@"
