#!/bin/sh
# Builds the image from ./Dockerfile and checks it runs: non-root, healthy, /readyz, publish and an SSE stream that
# receives it, HTTPS with HTTP/2 from mounted certificate files, refusing to start beyond loopback without secrets,
# and a SIGTERM drain that exits 0. Run from the repository root. Takes 2-4 minutes (most of it the build).
#
#   deploy/container/check.sh                      # podman, base image docker.io/library/node:20-bookworm-slim
#   NODE_IMAGE=localhost/switchboard-node-base:20-bookworm NPM_CACHE=$HOME/.npm deploy/container/check.sh
#       # offline: a base made by make-base-image.sh, dependencies from a warmed npm cache (no registry access)
#
# ENGINE=docker works too. ENGINE_FLAGS / RUN_FLAGS add global / run-and-build flags, e.g. on a VM that refuses
# podman's default rlimits: ENGINE_FLAGS="--runtime runc" RUN_FLAGS="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
set -eu
ENGINE=${ENGINE:-podman}
ENGINE_FLAGS=${ENGINE_FLAGS:-}
RUN_FLAGS=${RUN_FLAGS:-}
IMAGE=${IMAGE:-localhost/switchboard:check}
PORT=${PORT:-18080}
NAME=switchboard-check-$$
WORK=$(mktemp -d /tmp/switchboard-check.XXXXXX)
e() { "$ENGINE" $ENGINE_FLAGS "$@"; }
cleanup() { e rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; e logs "$NAME" 2>&1 | tail -20 >&2 || true; exit 1; }
waitfor() { # waitfor <seconds> <command...>
  n=$(($1 * 5)); shift
  while [ "$n" -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done
  return 1
}

echo "== build"
set -- --build-arg "NODE_IMAGE=${NODE_IMAGE:-docker.io/library/node:20-bookworm-slim}"
if [ -n "${NPM_CACHE:-}" ]; then
  cp -r "$NPM_CACHE" "$WORK/npm" # a copy: the build may write to it
  set -- "$@" --network none -v "$WORK/npm:/root/.npm" --build-arg NPM_FLAGS=--offline
fi
[ "$ENGINE" = podman ] && set -- "$@" --format docker # keep HEALTHCHECK (the OCI format has none)
start=$(date +%s)
e build $RUN_FLAGS "$@" -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "build"; }
echo "built $IMAGE in $(($(date +%s) - start)) s, $(e image inspect "$IMAGE" --format '{{.Size}}') bytes"

echo "== refuses to listen beyond loopback without JWT auth and an API key"
if e run --rm $RUN_FLAGS --network host -e SWITCHBOARD_PORT="$PORT" "$IMAGE" >"$WORK/refused.log" 2>&1; then fail "started without secrets"; fi
grep -q 'needs JWT authentication' "$WORK/refused.log" || { cat "$WORK/refused.log" >&2; fail "no config error"; }

echo "== runs: non-root, healthy, ready, publish reaches an SSE stream"
e run -d $RUN_FLAGS --name "$NAME" --network host -e SWITCHBOARD_PORT="$PORT" -e SWITCHBOARD_INSECURE=true "$IMAGE" >/dev/null 2>&1 || fail "run"
waitfor 20 curl -sf "http://127.0.0.1:$PORT/readyz" || fail "/readyz"
[ "$(e exec "$NAME" id -u)" = 1000 ] || fail "runs as $(e exec "$NAME" id -u), not 1000"
e healthcheck run "$NAME" >/dev/null 2>&1 || [ "$ENGINE" = docker ] || fail "healthcheck"
curl -sN --max-time 5 "http://127.0.0.1:$PORT/events?channel=check&user=c" >"$WORK/sse.txt" &
waitfor 5 grep -q caught_up "$WORK/sse.txt" || fail "SSE stream"
curl -sf -X POST -H 'content-type: application/json' -d '{"channel":"check","data":{"from":"container"}}' "http://127.0.0.1:$PORT/api/publish" >/dev/null || fail "publish"
waitfor 5 grep -q '"from":"container"' "$WORK/sse.txt" || fail "publication not received"
curl -sf "http://127.0.0.1:$PORT/switchboard.min.js" -o /dev/null || fail "SDK bundle"
curl -sf "http://127.0.0.1:$PORT/" | grep -qi '<html' || fail "demo page"

echo "== SIGTERM drains and exits 0"
e stop -t 20 "$NAME" >/dev/null
[ "$(e inspect "$NAME" --format '{{.State.ExitCode}}')" = 0 ] || fail "exit code $(e inspect "$NAME" --format '{{.State.ExitCode}}')"
e logs "$NAME" 2>&1 | grep -q 'shutdown complete' || fail "no drain in the logs"
e rm "$NAME" >/dev/null

echo "== HTTPS + HTTP/2 from mounted files"
mkdir "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/tls/tls.key" -out "$WORK/tls/tls.crt" 2>/dev/null
# Readable by UID 1000 in the container (on Kubernetes: the Secret volume's defaultMode and fsGroup).
chmod 755 "$WORK" "$WORK/tls" && chmod 644 "$WORK/tls/tls.key"
e run -d $RUN_FLAGS --name "$NAME" --network host -v "$WORK/tls:/tls:ro" -e SWITCHBOARD_PORT="$PORT" -e SWITCHBOARD_INSECURE=true \
  -e SWITCHBOARD_TLS_CERT=/tls/tls.crt -e SWITCHBOARD_TLS_KEY=/tls/tls.key "$IMAGE" >/dev/null 2>&1 || fail "run with TLS"
waitfor 20 curl -sf --cacert "$WORK/tls/tls.crt" "https://localhost:$PORT/readyz" || fail "https /readyz"
[ "$(curl -s --http2 --cacert "$WORK/tls/tls.crt" -o /dev/null -w '%{http_version}' "https://localhost:$PORT/healthz")" = 2 ] || fail "not HTTP/2"
e healthcheck run "$NAME" >/dev/null 2>&1 || [ "$ENGINE" = docker ] || fail "healthcheck over https"
echo "OK: $IMAGE"
