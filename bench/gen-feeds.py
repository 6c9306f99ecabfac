#!/usr/bin/env python3
"""Writes N distinct, realistic RSS 2.0 feeds for bench/poll-scale.sh.

Each feed has ~20 items whose titles and HTML bodies are taken from the
corpus's captured blog feeds (rotated, so neighbouring feeds differ), with
guids, links and dates unique to the feed. Sizes land between ~10 and ~30 KB.

Usage: bench/gen-feeds.py CORPUS_DIR OUT_DIR N [NEWEST [unique-titles]]
NEWEST: the Unix time of the newest item (default 1700000000, November 2023).
unique-titles: each title starts with its feed's and item's number, so no
item is a duplicate of a corpus item or of another feed's (by default the
rotated titles and bodies make many cross-source duplicates).
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET
from email.utils import formatdate
from xml.sax.saxutils import escape

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"


def pool_from(corpus):
    """(title, html) pairs from every captured RSS/Atom feed in the corpus."""
    pool = []
    for path in sorted(glob.glob(os.path.join(corpus, "rogue-scholar-api/captured-feeds/*.xml"))):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        for item in root.iter("item"):
            title = item.findtext("title") or ""
            body = item.findtext(CONTENT) or item.findtext("description") or ""
            pool.append((title.strip(), body))
        for entry in root.iter(ATOM + "entry"):
            title = entry.findtext(ATOM + "title") or ""
            body = entry.findtext(ATOM + "content") or entry.findtext(ATOM + "summary") or ""
            pool.append((title.strip(), body))
    return [(t, b) for t, b in pool if t and b]


def main():
    corpus, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    newest = int(sys.argv[4]) if len(sys.argv) > 4 else 1_700_000_000
    unique = len(sys.argv) > 5 and sys.argv[5] == "unique-titles"
    pool = pool_from(corpus)
    if len(pool) < 40:
        sys.exit(f"only {len(pool)} usable items in {corpus}")
    os.makedirs(out, exist_ok=True)
    sizes = []
    for k in range(n):
        items = []
        # A per-feed body length between ~250 and ~1,150 bytes of HTML per
        # item keeps feeds between ~10 and ~30 KB.
        body_len = 250 + (k * 37) % 900
        for j in range(20):
            title, body = pool[(k * 13 + j) % len(pool)]
            if unique:
                title = f"{k}.{j}: {title}"
            when = formatdate(newest - k * 600 - j * 86400, usegmt=True)
            link = f"https://library{k}.example.org/news/{j}-{k}"
            items.append(
                "<item>"
                f"<title>{escape(title)}</title>"
                f"<link>{link}</link>"
                f'<guid isPermaLink="false">urn:bench:{k}:{j}</guid>'
                f"<pubDate>{when}</pubDate>"
                f"<description>{escape(body[:body_len])}</description>"
                "</item>\n"
            )
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0"><channel>'
            f"<title>Library {k} news</title>"
            f"<link>https://library{k}.example.org/</link>"
            f"<description>News of library {k}</description>\n" + "".join(items) + "</channel></rss>\n"
        )
        data = doc.encode()
        sizes.append(len(data))
        with open(os.path.join(out, f"{k}.xml"), "wb") as f:
            f.write(data)
    sizes.sort()
    print(f"{n} feeds in {out}: min {sizes[0]} B, median {sizes[n // 2]} B, max {sizes[-1]} B, "
          f"total {sum(sizes) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
