"""Loads named-statement files (one statement per ``-- name: <name>`` block): the engine's
``queries.sql`` and the product's own (webhooks, uploads) alike."""
from __future__ import annotations

import functools
import re
from pathlib import Path

QUERIES_FILE = Path(__file__).with_name("queries.sql")
_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise ValueError(f"query {name!r} defined twice")
        sql = body.strip()
        queries[name] = sql[:-1] if sql.endswith(";") else sql
    return queries


@functools.cache
def load(path: Path) -> dict[str, str]:
    """The named statements of ``path``, read and parsed once per process."""
    return parse(Path(path).read_text())


def all_queries() -> dict[str, str]:
    return load(QUERIES_FILE)


def sql(name: str) -> str:
    return all_queries()[name]
