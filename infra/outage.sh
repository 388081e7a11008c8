#!/usr/bin/env bash
# Stops DynamoDB Local under a running keel-local and starts it again: while it is down every
# call is a 503 JSON answer with Retry-After (within the SDK's timeouts), nothing refused is
# kept, and service resumes on its own once it is back (infra/outage/check.py).
# Run by infra/test.sh after its installs (needs DynamoDB Local in infra/.tools/dynamodb-local).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$PWD/infra/.tools
ddb=$tools/dynamodb-local
# shellcheck source=infra/ports.sh
. infra/ports.sh
keel_local=$(keel_local_bin)

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

ddb_port=$(free_port)
start_dynamodb() {
  # On disk, so what was written before the stop is there after it.
  java -Djava.library.path="$ddb/DynamoDBLocal_lib" -cp "$ddb/DynamoDBLocal.jar:$ddb/DynamoDBLocal_lib/*" \
    infra/dynamodb-local/LoopbackDynamoDBLocal.java -dbPath "$work" -sharedDb -disableTelemetry \
    -port "$ddb_port" >>"$tools/dynamodb-local-outage.log" 2>&1 &
  ddb_pid=$!
  pids+=("$ddb_pid")
  wait_for_port "$ddb_port" "$ddb_pid" "$tools/dynamodb-local-outage.log"
}
start_dynamodb

port=$(free_port)
log=$tools/keel-local-outage.log
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port" \
  "$keel_local" --port "$port" --data-dir "$work/keel" --table "outage-$port" >"$log" 2>&1 &
pids+=($!)
wait_for_port "$port" "$!" "$log"
api="http://127.0.0.1:$port/api"

python3 infra/outage/check.py before "$api" "$work/state.json"
kill "$ddb_pid"
wait "$ddb_pid" 2>/dev/null || true
python3 infra/outage/check.py down "$api" "$work/state.json"
start_dynamodb
python3 infra/outage/check.py after "$api" "$work/state.json"
if grep -q "panicked" "$log"; then cat "$log" >&2; echo "keel-local panicked" >&2; exit 1; fi
echo "outage: 503 while DynamoDB Local was stopped, service resumed after it restarted"
