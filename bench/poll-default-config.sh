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

# One corpus feed per shipped source, in the order of config/default.toml:
# WordPress-, Ghost-, Blogger- and Hugo-made RSS and Atom of similar sizes.
feeds=(
  rogue-scholar-api/captured-feeds/www.leidenmadtrics.nl_c8d1bc3d4e.xml
  rogue-scholar-api/captured-feeds/tarleb.com_d4373d4b00.xml
  rogue-scholar-api/captured-feeds/cwagen.substack.com_85adfba73a.xml
  rogue-scholar-api/captured-feeds/blog.front-matter.io_80483374b6.xml
  rogue-scholar-api/captured-feeds/iphylo.blogspot.com_9ae88ebc98.xml
  rogue-scholar-api/captured-feeds/wisspub.net_7f6db621ea.xml
  rogue-scholar-api/captured-feeds/blog.dini.de_669390d34d.xml
  rogue-scholar-api/captured-feeds/www.leidenmadtrics.nl_41a71170bf.xml
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
i=0
while IFS= read -r line; do
  if [[ $line =~ ^url\ =\ \"https ]]; then
    echo "url = \"file://$corpus/${feeds[$i]}\""
    i=$((i + 1))
  else
    echo "$line"
  fi
done < config/default.toml > "$work/config.toml"
[ "$i" -eq "${#feeds[@]}" ] || { echo "config/default.toml has $i sources, the script maps ${#feeds[@]}" >&2; exit 1; }

/usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KiB' \
  target/release/librarywire poll-once --config "$work/config.toml" > "$work/items.jsonl" 2> "$work/stderr"
cat "$work/stderr"
echo "items printed: $(wc -l < "$work/items.jsonl"), bytes of JSON: $(wc -c < "$work/items.jsonl")"
