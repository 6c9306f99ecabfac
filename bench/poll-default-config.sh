#!/usr/bin/env bash
# Measures one poll of the shipped config/default.toml, with each of its
# sources pointed at a real corpus feed served as file://, through
# `librarywire poll-once` (fetch + parse + normalize, nothing stored).
# Prints wall time, CPU time and peak memory (GNU time), and item counts.
#
# Usage: bench/poll-default-config.sh [corpus dir]   (default ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(realpath "${1:-../shared/corpus}")
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
cargo build --release --quiet

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The shipped config, each source on a corpus feed.
source bench/corpus-config.sh
default_config_on_corpus "$corpus" "$work/config.toml"

/usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KiB' \
  target/release/librarywire poll-once --config "$work/config.toml" > "$work/items.jsonl" 2> "$work/stderr"
cat "$work/stderr"
echo "items printed: $(wc -l < "$work/items.jsonl"), bytes of JSON: $(wc -c < "$work/items.jsonl")"
