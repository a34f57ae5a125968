# Real Tasker processes for the CI stages that talk to running servers (.ci/api-fuzz,
# .ci/client-gen). Sourced, not run. The caller sets ROOT (the repository), BIN (the directory
# holding the debug binaries) and FIXTURES (crates/tasker-auth/tests/fixtures); this file
# creates WORK (a temporary directory removed on exit) and owns the processes it starts.
#
#   config_root NAME ROLE EXTRA_TOML   a config root under $WORK/NAME for one role
#   start NAME BINARY                  start it on a free loopback port, set BASE_URL
#   AUTH_ON                            the [web.auth] table of a secured process (fixture key)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tasker-ci.XXXXXX")
PIDS=()
processes_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap processes_cleanup EXIT
trap 'exit 130' INT TERM

# The processes must see only the config written here.
unset TASKER_ENV TASKER_CONFIG_PATH DATABASE_URL TASKER_JWT_PUBLIC_KEY_PATH TASKER_JWT_PUBLIC_KEY \
  TASKER_JWT_PRIVATE_KEY_PATH TASKER_AUTH_TOKEN TASKER_API_KEY

# A template whose one step always fails, so the DLQ has an entry to read and update.
mkdir -p "$WORK/tasks"
cat >"$WORK/tasks/broken.yaml" <<'YAML'
name: broken
namespace: ops
version: 1.0.0
steps:
  - name: explode
    handler: { callable: builtin.fail, initialization: { times: 100, retryable: false } }
    retry: { retryable: false, max_attempts: 1 }
YAML

AUTH_ON="[web.auth]
enabled = true
jwt_verification_method = \"public_key\"
jwt_public_key_path = \"$FIXTURES/rsa-a-public.pem\"
strict_validation = true"

# config_root NAME ROLE EXTRA_TOML: a config root with the role file; EXTRA_TOML goes after
# the [web] keys (so it may add keys to [web] or open its own tables).
config_root() {
  local dir="$WORK/$1"
  mkdir -p "$dir/base" "$dir/environments/development"
  cat >"$dir/base/common.toml" <<TOML
[database]
url = "sqlite://$dir/tasker.db"
[templates]
search_paths = ["$ROOT/config/tasks", "$WORK/tasks"]
[logging]
level = "warn"
TOML
  cat >"$dir/base/$2.toml" <<TOML
[web]
config_endpoint_enabled = true
$3
[worker]
poll_interval_ms = 50
# A stage ends with its processes: a step still running then is not waited for.
shutdown_timeout_seconds = 1
TOML
}

# start NAME BINARY: starts it on 127.0.0.1:0, waits for its address and /health/ready, and
# sets BASE_URL.
start() {
  local name=$1 binary=$2 dir="$WORK/$1"
  # The background job opens its redirections after `&` returns: the logs must exist before
  # the loop below reads them (a missing file fails `sed`, and with it the script).
  : >"$dir/stdout.log"
  : >"$dir/stderr.log"
  TASKER_WEB_BIND_ADDRESS=127.0.0.1:0 "$BIN/$binary" --config-root "$dir" \
    >>"$dir/stdout.log" 2>>"$dir/stderr.log" </dev/null &
  PIDS+=("$!")
  BASE_URL=
  for _ in $(seq 1 300); do
    BASE_URL=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$dir/stdout.log" | head -n1)
    if [ -n "$BASE_URL" ] && curl -fsS -o /dev/null "$BASE_URL/health/ready"; then
      echo "$name: $binary at $BASE_URL"
      return 0
    fi
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "$name: $binary did not become ready" >&2
  cat "$dir/stderr.log" >&2
  exit 1
}
