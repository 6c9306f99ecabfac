#!/usr/bin/env python3
"""Reads feed files with Python's feedparser and prints what it found, as JSON.

Usage: dump.py ROOT < relative-paths

Each line of standard input is a path under ROOT. The output is one JSON
object: {"path": {"entries": [...], "error": "..."}}, each entry with its
title, link and date (published, else updated, as Unix seconds, UTC). The
base of relative links is https://corpus.example/<path>, the one the Rust
side uses. librarywire's differential test (src/normalize/feedparser_tests.rs)
runs it.
"""

import calendar
import json
import sys

import feedparser


def seconds(parsed):
    if parsed is None:
        return None
    return calendar.timegm(parsed)


def main():
    root = sys.argv[1]
    out = {}
    for line in sys.stdin:
        rel = line.rstrip("\n")
        if not rel:
            continue
        with open(f"{root}/{rel}", "rb") as f:
            body = f.read()
        base = "https://corpus.example/" + rel
        try:
            d = feedparser.parse(body, response_headers={"content-location": base})
        except Exception as e:  # feedparser itself should never raise
            out[rel] = {"entries": [], "error": f"feedparser raised {e!r}"}
            continue
        entries = []
        for e in d.entries:
            entries.append(
                {
                    "title": e.get("title", ""),
                    "link": e.get("link", ""),
                    "published": seconds(e.get("published_parsed")),
                    "updated": seconds(e.get("updated_parsed")),
                }
            )
        out[rel] = {
            "entries": entries,
            "error": str(d.get("bozo_exception", "")) if d.get("bozo") else "",
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
