"""A webhook receiver: records every POST (time, path, headers, body) and answers from a
script of statuses (then 200). ``hang`` makes it wait before answering. Loopback only; by
default on the alias that ``doubles.dns.pretend_public`` counts as public."""
from __future__ import annotations

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
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang:
                    time.sleep(receiver.hang)
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append({"t": time.monotonic(), "path": self.path, "body": body,
                                              "headers": dict(self.headers.items()), "status": status})
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

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

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
