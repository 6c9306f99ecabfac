#!/usr/bin/env bash
# Polling at scale (BENCHMARKS.md section 4).
#
# Serves N generated feeds (~20 items, ~10–35 KB each, distinct guids) from a
# local nginx that sends ETag and Last-Modified, then measures, for each N:
#   floor   one curl process, --parallel --parallel-max P, every URL once:
#           plain (200s), then conditional (If-None-Match with nginx's ETags: 304s);
#   library benches/poll_scale.rs: the library's own poll path for every
#           source (refresh + record_success, global and per-host semaphores
#           of P), a first cycle (every item new) and a second (all 304),
#           store in a temp dir;
#   daemon  the real `librarywire run` on a config of the N sources
#           (concurrency = per_host = P, amqp at the closed port 127.0.0.1:1),
#           timed from start until its log shows N polls; CPU and peak
#           memory (VmHWM) read from /proc at that moment.
#   STORES  which stores the library runs on, in turn, each run (default
#           "sqlite"): sqlite (a file in a temp dir), pg1 (PostgreSQL, one
#           replica), pg3 (PostgreSQL, three replicas in one process, each
#           its own pool, fetcher and semaphores of P, sources claimed by
#           lease as the scheduler claims them). Each PostgreSQL run gets a
#           database of its own on $PG (created and dropped with createdb
#           and dropdb).
# Each measurement is repeated RUNS times; the medians are printed last.
#
# Usage: bench/poll-scale.sh [N ...]        (default: 2000 10000)
# Env:   P=32 (parallelism), RUNS=3, CORPUS=../shared/corpus, DAEMON=1 (0 skips it),
#        STORES="sqlite pg1 pg3" ("" for none), PG=postgres://postgres@127.0.0.1:5432,
#        PG_PARAMS (the store URL's query, e.g. sslmode=disable).
#        A STORES entry may name another build of benches/poll_scale.rs after
#        an @ (e.g. STORES="sqlite sqlite@/tmp/poll_scale.old"), to compare two
#        builds A/B within each run.
#        DAEMONS: the daemon binaries to run in turn each run (default
#        target/release/librarywire, built first), to compare builds A/B.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
sizes=("${@:-2000}")
[ $# -gt 0 ] || sizes=(2000 10000)
P=${P:-32}
RUNS=${RUNS:-3}
DAEMON=${DAEMON:-1}
STORES=${STORES-sqlite}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
corpus=$(realpath "${CORPUS:-../shared/corpus}")

need() { command -v "$1" >/dev/null || { apt-get install -y "$2" >/dev/null || exit 1; }; }
need nginx nginx
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

# The daemon binary only when it runs: `cargo build --release` alone unifies
# features apart from the benches and rebuilds half the dependencies.
if [ "$DAEMON" = 1 ] && [ -z "${DAEMONS:-}" ]; then cargo build --release --quiet; fi
DAEMONS=${DAEMONS:-target/release/librarywire}
[ "$DAEMON" = 1 ] || DAEMONS=
# The library bench only when a store runs it (STORES="" measures the daemon alone).
bench_bin=
[ -n "$STORES" ] && bench_bin=$(cargo bench --bench poll_scale --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "poll_scale" and m.get("executable"):
        print(m["executable"])')
[ -z "$STORES" ] || [ -x "$bench_bin" ] || { echo "cannot build benches/poll_scale.rs" >&2; exit 1; }

work=$(mktemp -d /tmp/lw-pollscale.XXXXXX)
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

max=0
for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done
python3 bench/gen-feeds.py "$corpus" "$work/www/feeds" "$max"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
user root;
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/rss+xml;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port backlog=4096;
    root $work/www;
    etag on;
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/feeds/0.xml" 2>/dev/null && break; sleep 0.1; done
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$port; P=$P; RUNS=$RUNS"
curl -sSI "http://127.0.0.1:$port/feeds/0.xml" | grep -Ei '^(etag|last-modified)'

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
declare -A results

for n in "${sizes[@]}"; do
  echo
  echo "== N=$n"
  python3 - "$work" "$port" "$n" <<'PY'
import os, sys
work, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(f"{work}/urls.txt", "w") as urls, open(f"{work}/plain.cfg", "w") as plain, \
        open(f"{work}/cond.cfg", "w") as cond:
    for k in range(n):
        st = os.stat(f"{work}/www/feeds/{k}.xml")
        url = f"http://127.0.0.1:{port}/feeds/{k}.xml"
        # nginx's ETag for a static file is "<mtime hex>-<size hex>".
        etag = '\\"%x-%x\\"' % (int(st.st_mtime), st.st_size)
        urls.write(url + "\n")
        # Options in a curl config apply to every URL unless `next` separates them.
        block = f'url = "{url}"\noutput = "/dev/null"\nwrite-out = "%{{http_code}}\\n"\n'
        sep = "next\n" if k else ""
        plain.write(sep + block)
        cond.write(sep + block + f'header = "If-None-Match: {etag}"\n')
PY

  for run in $(seq "$RUNS"); do
    for kind in plain cond; do
      /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        curl -sS --no-progress-meter --parallel --parallel-max "$P" -K "$work/$kind.cfg" > "$work/codes"
      read -r wall user sys rss < "$work/time"
      codes=$(sort "$work/codes" | uniq -c | awk '{printf "%s×HTTP %s ", $1, $2}')
      echo "curl $kind run $run: wall $wall s, cpu $(echo "$user + $sys" | bc) s, peak $rss KiB, codes $codes, load $(load)"
      results["$n curl_$kind"]+="$wall "
    done

    for store in $STORES; do
      db= ; env_store=(); bin=$bench_bin
      [[ "$store" == *@* ]] && bin=${store#*@}
      case "${store%%@*}" in
        sqlite) ;;
        pg1|pg3)
          db="lw_bench_$$_${n}_${run}_${store%%@*}_$RANDOM"
          createdb --maintenance-db="$PG/postgres" "$db"
          env_store=(POLL_SCALE_STORE="$PG/$db${PG_PARAMS:+?$PG_PARAMS}" POLL_SCALE_REPLICAS="${store#pg}") ;;
        *) echo "unknown store $store (sqlite, pg1, pg3)" >&2; exit 2 ;;
      esac
      /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        env POLL_SCALE_URLS="$work/urls.txt" POLL_SCALE_CONCURRENCY="$P" "${env_store[@]}" "$bin" --bench > "$work/lib.out"
      read -r wall user sys rss < "$work/time"
      [ -n "$db" ] && dropdb --maintenance-db="$PG/postgres" "$db"
      sed 's/^/  /' "$work/lib.out"
      c1=$(awk '/^cycle 1/{print $4}' "$work/lib.out")
      c2=$(awk '/^cycle 2/{print $4}' "$work/lib.out")
      echo "library ($store) run $run: cycle 1 $c1 s, cycle 2 $c2 s, process cpu $(echo "$user + $sys" | bc) s, peak $rss KiB, load $(load)"
      results["$n lib_${store}_c1"]+="$c1 "
      results["$n lib_${store}_c2"]+="$c2 "
      results["$n lib_${store}_rss"]+="$rss "
    done

    for dbin in $DAEMONS; do
      d="$work/daemon"; rm -rf "$d"; mkdir -p "$d"
      dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      {
        printf '[server]\nlisten = "127.0.0.1:%s"\npublic_url = "http://127.0.0.1:%s/"\n' "$dport" "$dport"
        # The store in a folder of its own, as in the shipped config: the
        # config file's folder is watched for edits, and every write of a
        # store kept there would wake the watcher (11% of the daemon's
        # samples in a first cycle).
        printf '[store]\npath = "%s/data/store.db"\n' "$d"
        printf '[amqp]\nurl = "amqp://guest:guest@127.0.0.1:1/%%2f"\n'
        printf '[poll]\ninterval = "1h"\nconcurrency = %s\nper_host = %s\njitter = 0.0\n' "$P" "$P"
        printf '[log]\nlevel = "info"\n'
        for ((k = 0; k < n; k++)); do
          printf '[[sources]]\nid = "s%s"\nurl = "http://127.0.0.1:%s/feeds/%s.xml"\n' "$k" "$port" "$k"
        done
      } > "$d/config.toml"
      : > "$d/log"
      start=$(date +%s.%N)
      "$dbin" run --config "$d/config.toml" > "$d/log" 2>&1 &
      dpid=$!
      while :; do
        polled=$(grep -c 'polled' "$d/log" || true)
        [ "$polled" -ge "$n" ] && break
        kill -0 "$dpid" 2>/dev/null || { echo "the daemon died:" >&2; tail "$d/log" >&2; exit 1; }
        sleep 0.05
      done
      end=$(date +%s.%N)
      hwm=$(awk '/VmHWM/{print $2}' "/proc/$dpid/status")
      cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$dpid/stat")
      failed=$(grep -c 'poll failed' "$d/log" || true)
      kill "$dpid"; wait "$dpid" 2>/dev/null || true
      dwall=$(echo "$end - $start" | bc)
      echo "daemon ($dbin) run $run: first cycle $dwall s (start to the ${n}th poll, start-up included), cpu $cpu s, VmHWM $hwm KiB, failed polls $failed, load $(load)"
      results["$n daemon_${dbin}_c1"]+="$dwall "
      results["$n daemon_${dbin}_rss"]+="$hwm "
    done
  done
done

echo
echo "== medians of $RUNS runs (P=$P)"
for n in "${sizes[@]}"; do
  m() { echo "${results["$n $1"]:-}" | tr ' ' '\n' | grep . | median; }
  plain=$(m curl_plain); cond=$(m curl_cond)
  for store in $STORES; do
    c1=$(m "lib_${store}_c1"); c2=$(m "lib_${store}_c2")
    printf 'N=%s: floor plain %s s, floor 304 %s s | library (%s) cycle 1 %s s (%.2fx), cycle 2 %s s (%.2fx), peak %s KiB\n' \
      "$n" "$plain" "$cond" "$store" "$c1" "$(echo "$c1 / $plain" | bc -l)" "$c2" "$(echo "$c2 / $cond" | bc -l)" "$(m "lib_${store}_rss")"
  done
  for dbin in $DAEMONS; do
    dc1=$(m "daemon_${dbin}_c1")
    printf 'N=%s: daemon (%s) first cycle %s s (%.2fx the floor), VmHWM %s KiB\n' \
      "$n" "$dbin" "$dc1" "$(echo "$dc1 / $plain" | bc -l)" "$(m "daemon_${dbin}_rss")"
  done
done
