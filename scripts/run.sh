#!/usr/bin/env bash
# make run: the whole platform on this machine. Starts a private Redis (its
# own port and data directory under .run/, unless EZLIVE_REDIS_ADDR is set)
# and `ezlive dev` (API + demo page, scheduler with local transcoders, origin).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run/redis .run/data

api=${EZLIVE_API_LISTEN:-127.0.0.1:1080}
origin=${EZLIVE_ORIGIN_LISTEN:-127.0.0.1:1081}
if [ -z "${EZLIVE_REDIS_ADDR:-}" ]; then
  port=${EZLIVE_REDIS_PORT:-16379}
  export EZLIVE_REDIS_ADDR=127.0.0.1:$port
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.run/redis" \
      --appendonly yes --daemonize yes --pidfile "$PWD/.run/redis/redis.pid" \
      --logfile "$PWD/.run/redis/redis.log"
    trap 'redis-cli -p '"$port"' shutdown >/dev/null 2>&1 || true' EXIT
  fi
fi

cat <<MSG

  ezLiveStreaming is starting on this machine.

  Demo page:  http://$api/
  API:        http://$api/jobs
  Origin:     http://$origin/live/<job id>/
  Redis:      $EZLIVE_REDIS_ADDR

  Walkthrough (in another terminal):
    # 1. create the sample job (DASH, two renditions + AAC)
    curl -s -X POST http://$api/jobs -d @jobspec/testdata/sample_live_job.json | tee /tmp/job.json
    ID=\$(sed -n 's/.*"Id":"\([^"]*\)".*/\1/p' /tmp/job.json)
    # 2. wait until it is running, then push a test pattern into its ingest
    bin/ezlive jobs get -api http://$api \$ID
    bin/ezlive push -api http://$api \$ID        # or: ffmpeg ... -f flv <RtmpIngestUrl>
    # 3. open the Playback_url in the demo page (or any DASH/HLS player)
    # 4. stop, resume, stop, delete
    bin/ezlive jobs stop -api http://$api \$ID

  Ctrl-C stops everything.

MSG
# Not exec: the trap above must still stop the private Redis afterwards.
bin/ezlive dev -listen "$api" -origin-listen "$origin" -data .run/data
