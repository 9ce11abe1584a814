#!/usr/bin/env bash
# Installs what ezlive needs on Debian 12, and only what is missing:
#   scripts/deps.sh run   ffmpeg, redis-server, node + the demo page's npm packages
#   scripts/deps.sh test  the same plus chromium and the test-only npm packages
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v redis-server >/dev/null || need+=(redis-server)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# SRT ingest links Debian's libsrt through cgo (go build -tags srt).
command -v gcc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists srt 2>/dev/null || need+=(libsrt-gnutls-dev)
if [ "$mode" = test ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl); /usr/local/go/bin must be on PATH" >&2; exit 1; }

# npm packages, pinned by each folder's package-lock.json; reinstalled only
# when the lockfile changed.
npm_ci() {
  local dir=$1
  local stamp="$dir/node_modules/.ezlive-lock"
  if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
    return
  fi
  echo "npm ci in $dir"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  cp "$dir/package-lock.json" "$stamp"
}
npm_ci web
if [ "$mode" = test ]; then
  npm_ci test/fauxqs
fi
