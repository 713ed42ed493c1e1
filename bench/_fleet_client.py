"""The fleet run's client side (it runs inside the ``client`` host's namespace): the API over
HTTP (no proxies), a tus upload that a host kill interrupts and another API host resumes,
and the database reads the run steers by. Used by ``bench.fleet``."""
from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from workers.queue.db import connect

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 15):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={**({"Content-Type": "application/json"} if body is not None else {}),
                                          **(headers or {})})
    try:
        with _opener.open(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers), (json.loads(raw) if raw[:1] == b"{" else raw)


def submit(api: str, url: str, callback: str, options: dict) -> str:
    status, _, body = http("POST", f"{api}/public/video", {"url": url, "callback_url": callback, **options})
    if status != 202:
        raise RuntimeError(f"submit {url}: {status} {body}")
    return body["token"]


def db_now(db_url: str) -> float:
    with connect(db_url, application_name="fleet-client") as conn:
        return conn.execute("SELECT extract(epoch FROM clock_timestamp()) AS t").fetchone()["t"]


def running(db_url: str) -> list[dict]:
    """Steps in flight under a live lease, with the host that holds each."""
    with connect(db_url, application_name="fleet-client") as conn:
        return conn.execute(
            "SELECT id AS job_id, video_id, pipeline_step::text AS step, split_part(locked_by, ':', 1) AS host, "
            "extract(epoch FROM clock_timestamp() - step_started_at) AS for_s FROM video_processing_queue "
            "WHERE status = 'running' AND lease_expires_at > now()").fetchall()


def taken_over(db_url: str, job_id: int, step: str, after: float, not_host: str) -> dict | None:
    """The first claim of ``job_id``'s ``step`` by another host after ``after`` (epoch, DB clock)."""
    with connect(db_url, application_name="fleet-client") as conn:
        return conn.execute(
            "SELECT kind::text AS kind, split_part(worker_id, ':', 1) AS host, extract(epoch FROM at) AS at "
            "FROM queue_events WHERE job_id = %s AND step = %s::pipeline_step AND kind IN ('claimed', 'rescued') "
            "AND at > to_timestamp(%s) AND split_part(worker_id, ':', 1) <> %s ORDER BY id LIMIT 1",
            (job_id, step, after, not_host)).fetchone()


def event(db_url: str, job_id: int, step: str, kind: str, host: str | None = None,
          other_than: str | None = None) -> dict | None:
    with connect(db_url, application_name="fleet-client") as conn:
        rows = conn.execute(
            "SELECT split_part(worker_id, ':', 1) AS host, extract(epoch FROM at) AS at, details FROM queue_events "
            "WHERE job_id = %s AND step = %s::pipeline_step AND kind = %s::queue_event_kind ORDER BY id",
            (job_id, step, kind)).fetchall()
    rows = [r for r in rows if (host is None or r["host"] == host) and (other_than is None or r["host"] != other_than)]
    return rows[0] if rows else None


def until(what: str, check, deadline_s: float, every: float = 0.2):
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(every)


# ------------------------------------------------------------------ uploads (tus 1.0)
TUS = {"Tus-Resumable": "1.0.0"}


def upload_create(api: str, path: Path, callback: str, options: dict) -> str:
    meta = {"filename": path.name, "callback_url": callback, **{k: str(v) for k, v in options.items()}}
    header = ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in meta.items())
    status, headers, body = http("POST", f"{api}/public/uploads",
                                 headers={**TUS, "Upload-Length": str(path.stat().st_size), "Upload-Metadata": header})
    if status != 201:
        raise RuntimeError(f"upload create: {status} {body}")
    return headers["Location"]


def slow_patch(api: str, location: str, data: bytes, offset: int, rate_bps: int, on_sent) -> None:
    """PATCH ``data`` from ``offset`` at about ``rate_bps``, calling ``on_sent(n)`` after each
    block; returns when the connection breaks (the host dies) or the PATCH is answered."""
    host, port = api.split("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
                      f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
                      f"Content-Length: {len(data) - offset}\r\n\r\n").encode())
        block = max(1024, rate_bps // 10)
        sent = offset
        while sent < len(data):
            sock.sendall(data[sent:sent + block])
            sent += min(block, len(data) - sent)
            if on_sent(sent - offset) is False:
                return
            time.sleep(block / rate_bps)
        sock.recv(4096)
    except OSError:
        return
    finally:
        sock.close()


def upload_resume(api: str, location: str, data: bytes, deadline_s: float) -> tuple[str, int, float]:
    """HEAD for the offset, PATCH the rest, again while the dead host's writer lease holds
    (409); (token, offset resumed from, seconds until accepted)."""
    started = time.monotonic()
    while True:
        status, headers, _ = http("HEAD", f"{api}{location}", headers=TUS)
        if status != 200:
            raise RuntimeError(f"upload HEAD on another API host: {status}")
        offset = int(headers["Upload-Offset"])
        status, headers, body = _patch(api, location, data, offset)
        if status == 204:
            return headers["ClipQueue-Token"], offset, time.monotonic() - started
        # 409: the dead host's writer lease still holds; None: the server answered 409 and
        # closed before the body was all sent (a broken pipe). Either way: HEAD, try again.
        if status not in (409, None) or time.monotonic() - started > deadline_s:
            raise RuntimeError(f"upload resume: {status} {body}")
        time.sleep(0.5)


def _patch(api: str, location: str, data: bytes, offset: int):
    req = urllib.request.Request(f"{api}{location}", data=data[offset:], method="PATCH", headers={
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
    try:
        with _opener.open(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except (urllib.error.URLError, ConnectionError) as exc:
        return None, {}, repr(exc)
