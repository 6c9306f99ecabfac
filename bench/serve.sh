#!/usr/bin/env bash
# Serving (BENCHMARKS.md section 2).
#
# Runs the release daemon on config/default.toml with every source pointed at
# a corpus feed (file://, as bench/poll-default-config.sh does), store in a
# temp dir, amqp at the closed port 127.0.0.1:1 (the outbox just waits), and
# waits until /status shows every source ok and /feed.xml holds 100 items.
# Then it saves those very bytes (and a gzip -6 copy for gzip_static) where a
# local nginx serves them as a static file with etag on, and runs
#   wrk -t2 -c64 -d10s --latency
# against both, alternating, RUNS times, for:
#   200   plain GET (identity)
#   304   If-None-Match with the ETag that server sent
#   gzip  Accept-Encoding: gzip (the daemon's gzip bytes kept per rendering; nginx gzip_static)
# and prints req/s and p99 of each, with the medians and the ratio
# daemon/nginx last. Nothing is pinned to CPUs: wrk, nginx and the daemon
# share the machine's cores alike.
#
# Usage: bench/serve.sh      Env: RUNS=3, DURATION=10s, CORPUS=../shared/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
corpus=$(realpath "${CORPUS:-../shared/corpus}")
command -v nginx >/dev/null || apt-get install -y nginx >/dev/null
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --quiet

work=$(mktemp -d /tmp/lw-serve.XXXXXX)
daemon_pid=
nginx_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The shipped config, each source on a corpus feed.
source bench/corpus-config.sh
default_config_on_corpus "$corpus" "$work/config.toml"

dport=$(free_port)
LIBRARYWIRE__SERVER__LISTEN="127.0.0.1:$dport" \
LIBRARYWIRE__SERVER__PUBLIC_URL="http://127.0.0.1:$dport/" \
LIBRARYWIRE__STORE__PATH="$work/store/librarywire.db" \
LIBRARYWIRE__AMQP__URL="amqp://guest:guest@127.0.0.1:1/%2f" \
LIBRARYWIRE__LOG__LEVEL=warn \
  target/release/librarywire run --config "$work/config.toml" > "$work/daemon.log" 2>&1 &
daemon_pid=$!
daemon="http://127.0.0.1:$dport"
for _ in $(seq 600); do
  if curl -fsS "$daemon/status" -o "$work/status.json" 2>/dev/null &&
    python3 - "$work/status.json" <<'PY' &&
import json, sys
sources = json.load(open(sys.argv[1]))["sources"]
sys.exit(0 if sources and all(s["state"] == "ok" for s in sources) else 1)
PY
    curl -fsS "$daemon/feed.xml" -o "$work/feed.xml" && [ "$(grep -o '<item>' "$work/feed.xml" | wc -l)" -eq 100 ]; then
    break
  fi
  kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died:" >&2; cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.1
done
items=$(grep -o '<item>' "$work/feed.xml" | wc -l)
[ "$items" -eq 100 ] || { echo "/feed.xml holds $items items, not 100" >&2; exit 1; }

# The very bytes the daemon serves, as nginx's static file.
mkdir -p "$work/www" "$work/nginx"
curl -fsS "$daemon/feed.xml" -o "$work/www/feed.xml"
gzip -6 -k "$work/www/feed.xml"
nport=$(free_port)
cat > "$work/nginx/nginx.conf" <<EOF
user root;
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  types { application/rss+xml xml; }
  keepalive_requests 1000000;
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:$nport backlog=4096;
    root $work/www;
    etag on;
    gzip_static on;
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
nginx_url="http://127.0.0.1:$nport"
for _ in $(seq 50); do curl -fsS -o /dev/null "$nginx_url/feed.xml" 2>/dev/null && break; sleep 0.1; done

cmp <(curl -fsS "$daemon/feed.xml") <(curl -fsS "$nginx_url/feed.xml") ||
  { echo "nginx does not serve the daemon's bytes" >&2; exit 1; }
etag_of() { curl -fsSI "$1/feed.xml" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'; }
d_etag=$(etag_of "$daemon")
n_etag=$(etag_of "$nginx_url")
for pair in "$daemon $d_etag" "$nginx_url $n_etag"; do
  set -- $pair
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $2" "$1/feed.xml")
  [ "$code" = 304 ] || { echo "$1 answers $code to If-None-Match $2, not 304" >&2; exit 1; }
  enc=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$1/feed.xml" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
  [ "$enc" = gzip ] || { echo "$1 does not answer gzip" >&2; exit 1; }
done
d_gz=$(curl -fsS -H 'Accept-Encoding: gzip' "$daemon/feed.xml" | wc -c)
echo "feed: 100 items, $(wc -c < "$work/www/feed.xml") bytes; gzip: daemon $d_gz bytes, nginx (gzip -6) $(wc -c < "$work/www/feed.xml.gz") bytes"
echo "daemon ETag $d_etag, nginx ETag $n_etag; $(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"

declare -A rps p99
# "1.23ms" / "456.00us" / "1.2s" -> milliseconds
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) print v/1000; else if (v ~ /ms$/) print v+0; else if (v ~ /s$/) print v*1000; else print v }'; }
run_wrk() { # name url header...
  local name=$1 url=$2; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  local out r p
  out=$(wrk -t2 -c64 -d"$DURATION" --latency "${args[@]}" "$url")
  if grep -q 'Non-2xx' <<< "$out"; then echo "$name: errors: $(grep 'Non-2xx' <<< "$out")" >&2; exit 1; fi
  r=$(awk '/Requests\/sec/{print $2}' <<< "$out")
  p=$(to_ms "$(awk '$1=="99%"{print $2}' <<< "$out")")
  rps[$name]+="$r "
  p99[$name]+="$p "
  printf '  %-12s %10s req/s  p99 %8s ms  load %s  %s\n' "$name" "$r" "$p" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(grep -o 'Socket errors.*' <<< "$out" || true)"
}
for run in $(seq "$RUNS"); do
  echo "run $run"
  run_wrk daemon-200 "$daemon/feed.xml"
  run_wrk nginx-200 "$nginx_url/feed.xml"
  run_wrk daemon-304 "$daemon/feed.xml" "If-None-Match: $d_etag"
  run_wrk nginx-304 "$nginx_url/feed.xml" "If-None-Match: $n_etag"
  run_wrk daemon-gzip "$daemon/feed.xml" "Accept-Encoding: gzip"
  run_wrk nginx-gzip "$nginx_url/feed.xml" "Accept-Encoding: gzip"
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo
echo "medians of $RUNS runs of wrk -t2 -c64 -d$DURATION --latency"
printf '%-6s %14s %14s %8s %12s %12s\n' case "daemon req/s" "nginx req/s" ratio "daemon p99" "nginx p99"
for c in 200 304 gzip; do
  dr=$(median <<< "${rps[daemon-$c]}"); nr=$(median <<< "${rps[nginx-$c]}")
  dp=$(median <<< "${p99[daemon-$c]}"); np=$(median <<< "${p99[nginx-$c]}")
  printf '%-6s %14s %14s %7.2fx %10s ms %10s ms\n' "$c" "$dr" "$nr" "$(echo "$dr / $nr" | bc -l)" "$dp" "$np"
done
