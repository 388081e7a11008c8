#!/usr/bin/env bash
# Fuzzes the whole API with schemathesis against Keel's own OpenAPI document, on a fresh
# keel-local (embedded engines): every check, a bounded number of examples per operation,
# stateful sequences along the document's links. Fails on any server error or response that
# the document does not describe. Then checks, in headless Chromium, that the docs page
# (/api/docs/) renders every operation of the document. infra/test.sh runs it; alone:
#   ./infra/fuzz.sh [extra schemathesis arguments]
# Needs schemathesis in infra/.tools/venv and chromium (infra/test.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/infra/.tools
st=$tools/venv/bin/schemathesis
[ -x "$st" ] || { echo "schemathesis not installed: run ./infra/test.sh once" >&2; exit 1; }

# shellcheck source=infra/ports.sh
. infra/ports.sh
keel_local=$(keel_local_bin)
port=$(free_port)
data=$(mktemp -d)
log=$tools/keel-local-fuzz.log
table=fuzz-$port
"$keel_local" --port "$port" --data-dir "$data" --table "$table" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
wait_for_port "$port" "$server" "$log"

export KEEL_FUZZ_URL="http://127.0.0.1:$port"
export KEEL_FUZZ_ADMIN="$keel_local admin grant --data-dir $data --table $table"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH=$root/infra/fuzz
# The docs page: every operationId of the document rendered (Swagger UI ids them
# operations-<tag>-<operationId>), with no network but this server.
export LC_ALL=C
expected=$(curl -sf "$KEEL_FUZZ_URL/api/openapi.json" | python3 infra/fuzz/operations.py)
chromium --headless=new --no-sandbox --disable-gpu --virtual-time-budget=15000 \
  --dump-dom "$KEEL_FUZZ_URL/api/docs/" 2>/dev/null >"$data/docs.html"
rendered=$(grep -o 'id="operations-[^"]*-[^"]*"' "$data/docs.html" | sed 's/^id="//; s/"$//' | sort -u)
missing=$(comm -23 <(echo "$expected") <(echo "$rendered"))
if [ -n "$missing" ]; then echo "docs page is missing operations:" >&2; echo "$missing" >&2; exit 1; fi
echo "docs page: $(echo "$expected" | wc -l) of $(echo "$expected" | wc -l) operations rendered"

"$st" --config-file infra/fuzz/schemathesis.toml run "$KEEL_FUZZ_URL/api/openapi.json" \
  --checks all --max-examples "${KEEL_FUZZ_EXAMPLES:-25}" --seed "${KEEL_FUZZ_SEED:-1}" \
  --phases examples,coverage,fuzzing,stateful --workers 1 --no-color "$@"
