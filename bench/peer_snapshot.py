#!/usr/bin/env python3
"""Peer for the snapshot ingest benchmark: the same file read the plain Python way.

Parses each line with json.loads, builds the fields paperscout keeps (id without version,
title and abstract with whitespace collapsed, authors from authors_parsed, categories, first and
latest version dates, DOI), then inserts them into SQLite (WAL, one transaction, a unique id
index), timing the two phases apart. No search index: compare with paperscout's parse and
store phases.
    python3 bench/peer_snapshot.py SNAPSHOT.jsonl [SCRATCH_DIR]
"""
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from email.utils import parsedate_to_datetime


def fields(line):
    r = json.loads(line)
    versions = r.get("versions") or []
    dates = [parsedate_to_datetime(v["created"]).date().isoformat() for v in versions]
    authors = [
        " ".join(p for p in (a[1], a[0], a[2] if len(a) > 2 else "") if p)
        for a in (r.get("authors_parsed") or [])
    ]
    return (
        "arxiv:" + r["id"],
        " ".join(r.get("title", "").split()),
        " ".join((r.get("abstract") or "").split()),
        json.dumps(authors),
        dates[0] if dates else None,
        json.dumps((r.get("categories") or "").split()),
        len(versions),
        dates[-1] if dates else None,
        r.get("doi"),
    )


def main():
    path = sys.argv[1]
    scratch = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    t = time.perf_counter()
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(fields(line))
    parse_s = time.perf_counter() - t
    db = os.path.join(scratch, "peer.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=normal")
    conn.execute(
        "CREATE TABLE papers (key INTEGER PRIMARY KEY, id TEXT UNIQUE, title TEXT, abstract TEXT, "
        "authors TEXT, published TEXT, categories TEXT, version INTEGER, updated TEXT, doi TEXT)"
    )
    t = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO papers (id, title, abstract, authors, published, categories, version, updated, doi) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    store_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "peer": "python %s json + sqlite3 %s" % (sys.version.split()[0], sqlite3.sqlite_version),
        "records": len(rows),
        "parse_s": round(parse_s, 2),
        "store_s": round(store_s, 2),
        "records_per_s": round(len(rows) / (parse_s + store_s)),
        "peak_rss_mb": round(peak_mb),
    }))


if __name__ == "__main__":
    main()
