"""The uploads' statements (``queries.sql``), one function each."""
from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from workers.queue.sql import load

QUERIES = Path(__file__).with_name("queries.sql")
# A PATCH holds the writer lease (CLIPQUEUE_UPLOAD_WRITER_LEASE_S) while bytes arrive and pushes
# it on every quarter of it; one whose bytes stop for longer (or whose process is known gone)
# loses it.


def _sql(name: str) -> str:
    return load(QUERIES)[name]


def create(conn, *, id: str, length: int, filename: str | None, options: dict, callback_url: str | None,
           ttl_seconds: float) -> dict:
    params = {"id": id, "length": length, "filename": filename, "options": Jsonb(options),
              "callback_url": callback_url, "ttl_seconds": ttl_seconds}
    return conn.execute(_sql("create_upload"), params).fetchone()


def get(conn, id: str) -> dict | None:
    return conn.execute(_sql("get_upload"), {"id": id}).fetchone()


def take_writer(conn, id: str, *, offset: int, writer: str, key: str, lease_seconds: float,
                gone: str | None = None) -> dict | None:
    """The writer lease, or None (409); ``gone``: a writer whose process is known dead."""
    params = {"id": id, "offset": offset, "writer": writer, "key": key, "gone": gone,
              "lease_seconds": lease_seconds}
    return conn.execute(_sql("take_writer"), params).fetchone()


def renew_writer(conn, id: str, *, writer: str, lease_seconds: float) -> bool:
    params = {"id": id, "writer": writer, "lease_seconds": lease_seconds}
    return conn.execute(_sql("renew_writer"), params).fetchone() is not None


def add_chunk(conn, id: str, *, offset: int, size: int, attempt: str, writer: str,
              ttl_seconds: float) -> dict | None:
    params = {"id": id, "offset": offset, "size": size, "attempt": attempt, "writer": writer,
              "ttl_seconds": ttl_seconds}
    return conn.execute(_sql("add_chunk"), params).fetchone()


def release_writer(conn, id: str, *, writer: str) -> bool:
    """True when ``writer`` still held the lease (and gave it up now)."""
    return conn.execute(_sql("release_writer"), {"id": id, "writer": writer}).fetchone() is not None


def chunk_list(conn, id: str) -> list:
    """The stored chunks, in order, as ``[start, attempt]`` pairs."""
    return conn.execute(_sql("upload_chunks"), {"id": id}).fetchone()["chunks"]


def finish(conn, id: str, *, token: str) -> str | None:
    row = conn.execute(_sql("finish_upload"), {"id": id, "token": token}).fetchone()
    return None if row is None else row["video_token"]


def delete(conn, id: str) -> dict | None:
    return conn.execute(_sql("delete_upload"), {"id": id}).fetchone()


def expired(conn: psycopg.Connection, *, batch: int = 100) -> list[dict]:
    return conn.execute(_sql("expired_uploads"), {"batch": batch}).fetchall()
