#!/usr/bin/env python3
"""The GitLab AI Gateway's indexer (ai_gateway/scripts/index_docs_as_sqlite.py,
whole-file era, facts/gitlab-ai-gateway.md §9) without its download step:
python3 gateway_indexer.py CHECKOUT OUTPUT.db indexes CHECKOUT/doc/**/*.md.
TestBuild_SameRowsAsGatewayIndexerInCPython compares DuoBox's index with it."""
import json
import re
import sqlite3
import sys
from pathlib import Path


def build_row_corpus(text):
    start = text.find("---")
    if start != -1:
        end = text.find("---", start + 1)
        text = text[end + 2 : -1]
    if not text:
        return ""
    return re.sub(r"[^\w\s]", "", text.lower())


def main(checkout, output):
    rows = []
    for path in Path(checkout).glob("doc/**/*.md"):
        with path.open("r") as f:  # text mode: UTF-8, universal newlines
            name = f.name.removeprefix(f"{checkout}/doc")
            text = f.read()
            rows.append((build_row_corpus(text), text, json.dumps({"filename": name})))
    with sqlite3.connect(output) as con:
        con.execute("CREATE VIRTUAL TABLE doc_index USING fts5(processed, content, metadata, tokenize='porter trigram');")
        con.execute("PRAGMA user_version = 1;")
        con.executemany("INSERT INTO doc_index (processed, content, metadata) VALUES (?,?,?)", rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
