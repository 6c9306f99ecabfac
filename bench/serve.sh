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
# With LOAD=N (e.g. 2000), it then measures the three again while the
# daemon polls N more sources in the background: N generated feeds (as
# bench/poll-scale.sh makes them, 20 items of corpus HTML each) served by the
# same nginx. Before each wrk run, daemon's or nginx's alike, the config is
# rewritten with N sources of new ids (so every item is new: a first cycle,
# parse, sanitize, store, outbox) and the daemon reloaded; wrk starts 1 s
# after /status lists them, and /status then tells how many were polled
# during the run. Poll concurrency = per_host = 32, as in section 4. The
# feeds' items are older than the corpus's and duplicate none of them, so
# /feed.xml keeps its bytes and ETag (checked after each run) while the
# store changes under it (the merged feed is rendered again at most every
# 250 ms after a change).
#
# Usage: bench/serve.sh      Env: RUNS=3, DURATION=10s, CORPUS=../shared/corpus, LOAD=0,
#        DAEMON_BIN=target/release/librarywire (another build, for an A/B)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
LOAD=${LOAD:-0}
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
# Items of December 2009 (older than the feed's, and than 1990, before
# which normalize believes no date: src/normalize/mod.rs), and titles of
# their own, so no item is a duplicate of one in the feed ("also in"): the
# merged feed's newest 100 stay the same bytes as nginx's copy while they
# arrive (each source still keeps its newest min_items_per_source = 20).
[ "$LOAD" -gt 0 ] && python3 bench/gen-feeds.py "$corpus" "$work/www/feeds" "$LOAD" 1262304000 unique-titles
cp "$work/config.toml" "$work/base.toml"
LIBRARYWIRE__POLL__CONCURRENCY=32 LIBRARYWIRE__POLL__PER_HOST=32 \
LIBRARYWIRE__SERVER__LISTEN="127.0.0.1:$dport" \
LIBRARYWIRE__SERVER__PUBLIC_URL="http://127.0.0.1:$dport/" \
LIBRARYWIRE__STORE__PATH="$work/store/librarywire.db" \
LIBRARYWIRE__AMQP__URL="amqp://guest:guest@127.0.0.1:1/%2f" \
LIBRARYWIRE__LOG__LEVEL=warn \
  "${DAEMON_BIN:-target/release/librarywire}" run --config "$work/config.toml" > "$work/daemon.log" 2>&1 &
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

[ "$LOAD" -gt 0 ] || exit 0

# Under load: before each wrk run, N new sources and a reload.
round=0
status_count() { # prefix -> "listed polled" of the sources whose id starts with prefix
  curl -fsS "$daemon/status" | python3 -c 'import json,sys
p = sys.argv[1]
s = [x for x in json.load(sys.stdin)["sources"] if x["id"].startswith(p)]
print(len(s), sum(1 for x in s if x["state"] == "ok"))' "$1"
}
with_load() { # wrk arguments as run_wrk takes them
  round=$((round + 1))
  local prefix="load${round}s" listed polled
  {
    cat "$work/base.toml"
    for ((k = 0; k < LOAD; k++)); do
      printf '[[sources]]\nid = "%s%s"\nurl = "%s/feeds/%s.xml"\ninterval = "1h"\n' "$prefix" "$k" "$nginx_url" "$k"
    done
  } > "$work/config.next"
  mv "$work/config.next" "$work/config.toml"
  kill -HUP "$daemon_pid"
  for _ in $(seq 300); do
    read -r listed polled < <(status_count "$prefix")
    [ "$listed" -eq "$LOAD" ] && break
    sleep 0.1
  done
  [ "$listed" -eq "$LOAD" ] || { echo "the reload did not list $LOAD sources" >&2; tail "$work/daemon.log" >&2; exit 1; }
  sleep 1
  read -r _ before < <(status_count "$prefix")
  run_wrk "$@"
  read -r _ after < <(status_count "$prefix")
  echo "               background: $before of $LOAD sources polled when wrk started, $after when it ended"
  curl -fsS "$daemon/feed.xml" -o "$work/feed.now"
  cmp -s "$work/feed.now" "$work/www/feed.xml" || {
    echo "the daemon's /feed.xml changed under load: $(grep -o '<item>' "$work/feed.now" | wc -l) items, $(wc -c < "$work/feed.now") bytes" >&2
    exit 1
  }
  loaded[$1]+="$((after - before)) "
}
declare -A loaded
rps=(); p99=()
echo
echo "under load: $LOAD more sources polled in the background"
for run in $(seq "$RUNS"); do
  echo "run $run"
  # Who goes first takes turns: the load's phase differs little, but evenly.
  if [ $((run % 2)) = 1 ]; then order="daemon nginx"; else order="nginx daemon"; fi
  for who in $order; do
    if [ "$who" = daemon ]; then url=$daemon etag=$d_etag; else url=$nginx_url etag=$n_etag; fi
    with_load "$who-200" "$url/feed.xml"
    with_load "$who-304" "$url/feed.xml" "If-None-Match: $etag"
    with_load "$who-gzip" "$url/feed.xml" "Accept-Encoding: gzip"
  done
done
echo
echo "under load: medians of $RUNS runs of wrk -t2 -c64 -d$DURATION --latency, each during a first cycle of $LOAD sources"
printf '%-6s %14s %14s %8s %12s %12s %16s\n' case "daemon req/s" "nginx req/s" ratio "daemon p99" "nginx p99" "polls d / n"
for c in 200 304 gzip; do
  dr=$(median <<< "${rps[daemon-$c]}"); nr=$(median <<< "${rps[nginx-$c]}")
  dp=$(median <<< "${p99[daemon-$c]}"); np=$(median <<< "${p99[nginx-$c]}")
  printf '%-6s %14s %14s %7.2fx %10s ms %10s ms %7s / %s\n' "$c" "$dr" "$nr" "$(echo "$dr / $nr" | bc -l)" "$dp" "$np" \
    "$(median <<< "${loaded[daemon-$c]}")" "$(median <<< "${loaded[nginx-$c]}")"
done
