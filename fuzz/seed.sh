#!/bin/sh
# Copies small real feeds from the shared corpus into fuzz/corpus/parse_normalize,
# the seed corpus of the parse_normalize target. Idempotent: run it again at will.
# Usage: fuzz/seed.sh [path-to-shared-corpus]   (default: ../shared/corpus beside the repo)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../../shared/corpus}
[ -d "$src" ] || src=/work/shared/corpus
out=$here/corpus/parse_normalize
mkdir -p "$out"

# Small files only (under 12 KiB): libFuzzer mutates small inputs faster, and
# these still hold every format and the broken cases.
copy() {
    find "$src/$1" -type f -size -12k \( -name '*.xml' -o -name '*.atom' -o -name '*.rss' \
        -o -name '*.rdf' -o -name '*.json' -o -name '*.html' \) ! -name '*.serde.json' |
        sort | head -n "$2" |
        while read -r f; do
            # Name each seed after its path, so seeds from different folders never collide.
            cp "$f" "$out/$(echo "${f#"$src"/}" | tr '/' '_')"
        done
}

copy feed-rs/feed-rs/fixture 70                       # RSS 0.9x/1.0/2.0, Atom, JSON Feed
copy node-feedparser/test/feeds 40                    # ill-formed, xml:base, odd encodings
copy miniflux/internal/reader/encoding/testdata 20    # legacy encodings, wrong prologs
copy miniflux/internal/reader/xml/testdata 10
copy miniflux/inline-extracted/reader/parser 20       # RSS, Atom, RDF, JSON
copy miniflux/inline-extracted/reader/json 20
copy rogue-scholar-api/captured-html 4                # pages that are not feeds

echo "$(ls "$out" | wc -l) seeds in $out"
