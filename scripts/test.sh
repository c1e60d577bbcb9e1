#!/usr/bin/env bash
# The single test command (see README): make RabbitMQ and PostgreSQL available on loopback
# (scripts/local-services.sh; reuses ConnectionStrings__messaging / ConnectionStrings__relaydb if
# already set), then build and run every test project in the solution.
#   scripts/test.sh                                   # all tests
#   scripts/test.sh --filter "FullyQualifiedName~Relay"  # extra arguments go to `dotnet test`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Capture first: `eval "$(...)"` alone would hide a failure of local-services.sh.
service_env=$(bash scripts/local-services.sh --env)
eval "$service_env"
echo "test.sh: ConnectionStrings__messaging=${ConnectionStrings__messaging:?}" >&2
echo "test.sh: ConnectionStrings__relaydb=${ConnectionStrings__relaydb:?}" >&2
# The browser checks drive a real headless Chromium.
CHROMIUM_PATH=$(bash scripts/browser.sh)
export CHROMIUM_PATH
echo "test.sh: CHROMIUM_PATH=$CHROMIUM_PATH" >&2

start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test Aspire.Webhooks.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

if [[ $rc -eq 0 ]]; then
  echo "test.sh: dotnet test succeeded in $((SECONDS - start))s"
else
  echo "test.sh: dotnet test FAILED with exit code $rc after $((SECONDS - start))s"
fi

# The closing line for the whole suite, summed over the test projects' own summaries.
awk '
  # Minimal verbosity: "Passed!  - Failed: 0, Passed: 95, Skipped: 0, ..."
  /^(Passed|Failed)! +- +Failed:/ {
    gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
    next
  }
  # Normal verbosity: a "Total tests:" block with one count per line.
  /^ *Passed: [0-9]+ *$/  { p += $2 }
  /^ *Failed: [0-9]+ *$/  { f += $2 }
  /^ *Skipped: [0-9]+ *$/ { s += $2 }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$rc"
