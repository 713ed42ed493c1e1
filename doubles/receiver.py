"""A webhook receiver: records every POST (time, path, headers, body) and answers from a
script of statuses (then 200). ``hang`` makes it wait before answering; ``trickle`` (seconds)
sends its answer one byte at a time, one every that many seconds (a per-read time-out never
fires). ``open_now`` and ``most_open`` count the requests in progress, now and at most; each
request's record says when it ended (``ended``: the answer sent or the client gone). Loopback
only; by default on the alias that ``doubles.dns.pretend_public`` counts as public."""
from __future__ import annotations

import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

from doubles.dns import PUBLIC_ALIAS
from doubles.quiet_server import QuietServer


class Receiver:
    def __init__(self, host: str = PUBLIC_ALIAS, name: str = "localhost"):
        self.host, self.name = host, name
        self.script: list[int] = []
        self.hang = 0.0
        self.trickle = 0.0
        self.open_now = self.most_open = 0
        self.stopping = threading.Event()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                with receiver.lock:
                    receiver.open_now += 1
                    receiver.most_open = max(receiver.most_open, receiver.open_now)
                record = {}
                try:
                    self._answer(record)
                finally:
                    with receiver.lock:
                        receiver.open_now -= 1
                        record["ended"] = time.monotonic()
                        receiver.arrived.notify_all()

            def _answer(self, record: dict):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang:
                    receiver.stopping.wait(receiver.hang)
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    record.update({"t": time.monotonic(), "path": self.path, "body": body,
                                   "headers": dict(self.headers.items()), "status": status})
                    receiver.requests.append(record)
                    receiver.arrived.notify_all()
                if not receiver.trickle:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n".encode()
                for n in range(len(answer)):
                    if self._client_gone(receiver.trickle) or receiver.stopping.is_set():
                        return
                    self.wfile.write(answer[n:n + 1])
                    self.wfile.flush()

            def _client_gone(self, wait: float) -> bool:
                """Wait ``wait`` seconds; True as soon as the client closes its end."""
                readable, _, _ = select.select([self.connection], [], [], wait)
                try:
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

        self.httpd = QuietServer((self.host, 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.name}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        """The first ``count`` requests, once they arrived; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} of {count} webhook requests arrived")
                self.arrived.wait(left)
            return list(self.requests[:count])

    def wait_ended(self, count: int, timeout: float = 30.0) -> list[dict]:
        """The first ``count`` requests, once each has ended; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < count or any("ended" not in r for r in self.requests[:count]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{sum('ended' in r for r in self.requests)} of {count} webhook requests ended")
                self.arrived.wait(left)
            return list(self.requests[:count])

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
