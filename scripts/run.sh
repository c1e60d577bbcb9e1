#!/usr/bin/env bash
# The run command (see README): make RabbitMQ and PostgreSQL available on loopback
# (scripts/local-services.sh), then run the Receiver with the Development environment and the
# `http` launch profile. Extra arguments are passed to `dotnet run`
# (e.g. scripts/run.sh -- --urls http://127.0.0.1:5080).
# TODO: switch to the Aspire AppHost once it can orchestrate the services.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Capture first: `eval "$(...)"` alone would hide a failure of local-services.sh.
service_env=$(bash scripts/local-services.sh --env)
eval "$service_env"
export ASPNETCORE_ENVIRONMENT=Development
echo "run.sh: ConnectionStrings__messaging=${ConnectionStrings__messaging:?}" >&2
echo "run.sh: ConnectionStrings__relaydb=${ConnectionStrings__relaydb:?}" >&2

exec dotnet run --project Receiver -c Release --launch-profile http "$@"
