"""A local HTTP file server for download tests: Range requests (206), and scripted faults.

Faults per path: ``drop_after`` (bytes: the first response body is cut there, once),
``status`` (a list of statuses to answer before serving normally, e.g. [503, 503]),
``redirect`` (a URL: every request is answered 302 to it). ``chaos``, when set, is called
per GET with the body size and the path, and returns None (serve normally) or a fault for that request:
("status", code[, {"retry_after": value}]) | ("drop", offset) | ("slow", bytes_per_second) |
("trickle", seconds_per_byte).
``head_status`` (a status): HEADs get it, GETs are served. ``get_redirect`` (a URL): GETs are answered 302 to it while HEADs answer normally (a host
whose HEAD and GET differ). ``trickle`` (seconds): the body is sent one byte at a time, one
every that many seconds. ``retry_after`` (a header value) goes with a forced 429.
Every request is logged (path, Range header, bytes sent), so tests can prove resumption.
Listens on ``host`` (127.0.0.1, or another loopback address: tests use 127.0.0.2 to play a
public host, see support/dns.py) only; ``name`` is the host name its URLs use.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from doubles.quiet_server import QuietServer

MIME = {".mp4": "video/mp4", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".opus": "audio/ogg",
        ".html": "text/html", ".txt": "text/plain", ".m3u8": "application/vnd.apple.mpegurl",
        ".ts": "video/mp2t"}


@dataclass
class Served:
    path: str
    range: str | None
    status: int
    bytes_sent: int


@dataclass
class MediaServer:
    files: dict[str, Path] = field(default_factory=dict)
    faults: dict[str, dict] = field(default_factory=dict)
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    chaos: object = None  # callable(size, path) -> fault or None
    host: str = "127.0.0.1"
    name: str | None = None

    def start(self) -> "MediaServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _serve(self, head: bool):
                name = self.path.split("?")[0]
                fault = server.faults.get(name, {})
                with server.lock:
                    statuses = fault.get("status") or []
                    forced = statuses.pop(0) if statuses else None
                if head and fault.get("head_status"):
                    server._record(name, None, fault["head_status"], 0)
                    self.send_response(fault["head_status"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                location = fault.get("redirect") or (None if head else fault.get("get_redirect"))
                if location:
                    server._record(name, None, 302, 0)  # before answering: tests read it right after
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if forced is None and not head and server.chaos is not None and name in server.files:
                    chaotic = server.chaos(server.files[name].stat().st_size, name)
                    if chaotic and chaotic[0] == "status":
                        forced = chaotic[1]
                        fault = {**fault, **(chaotic[2] if len(chaotic) > 2 else {})}  # e.g. retry_after
                    elif chaotic:
                        fault = {**fault, chaotic[0]: chaotic[1]}
                if forced:
                    self.send_response(forced)
                    if forced == 429:
                        self.send_header("Retry-After", fault.get("retry_after", "1"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    server._record(name, None, forced, 0)
                    return
                target = server.files.get(name)
                if target is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    server._record(name, None, 404, 0)
                    return
                data = target.read_bytes()
                start, end, status = 0, len(data) - 1, 200
                header = self.headers.get("Range")
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
                if match:
                    start = int(match.group(1))
                    end = int(match.group(2)) if match.group(2) else end
                    status = 206
                body = data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Type", MIME.get(target.suffix, "application/octet-stream"))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if head:
                    server._record(name, header, status, 0)
                    return
                with server.lock:
                    cut = fault.pop("drop_after", None) if "drop_after" in fault else fault.pop("drop", None)
                if cut is not None and cut < len(body):
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    server._record(name, header, status, cut)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_WR)  # FIN after the partial body
                    except OSError:
                        pass
                    return
                # Written in chunks and counted as it goes: a client that goes away (a killed
                # worker) is charged for what it was sent, not for the whole body.
                rate = fault.get("slow")
                chunk = max(1024, int(rate) // 20) if rate else 64 * 1024
                trickle = fault.get("trickle")
                sent = 0
                server.body_started.set()
                try:
                    while sent < len(body) and not server.stopping:
                        if trickle:
                            self.wfile.write(body[sent:sent + 1])
                            self.wfile.flush()
                            sent += 1
                            server.stopping_event.wait(trickle)
                            continue
                        piece = body[sent:sent + chunk]
                        self.wfile.write(piece)
                        sent += len(piece)
                        if rate:
                            time.sleep(len(piece) / rate)
                finally:
                    server._record(name, header, status, sent)

        self.stopping_event = threading.Event()
        self.body_started = threading.Event()  # set when any response body starts
        self.httpd = QuietServer((self.host, 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def _record(self, path, range_header, status, sent):
        with self.lock:
            self.log.append(Served(path, range_header, status, sent))

    @property
    def stopping(self) -> bool:
        return self.stopping_event.is_set()

    def url(self, name: str) -> str:
        return f"http://{self.name or self.host}:{self.httpd.server_address[1]}{name}"

    def add(self, name: str, path: Path, **fault) -> str:
        self.files[name] = Path(path)
        if fault:
            self.faults[name] = fault
        return self.url(name)

    def bytes_sent(self, name: str) -> int:
        return sum(s.bytes_sent for s in self.log if s.path == name)

    def stop(self):
        self.stopping_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
