"""The fleet's non-ClipQueue hosts, one process each, run inside a host's namespace by
``bench.fleet``:

    python -m bench._fleet_serve s3 ADDR PORT            (moto's S3 server; logs every request)
    python -m bench._fleet_serve media ADDR DIR OUT      (doubles.media_server over DIR's files;
                                                          under /slow/ the same at 200 KB/s)
    python -m bench._fleet_serve receiver ADDR OUT       (doubles.receiver; each POST appended to OUT/hooks.jsonl)

``media`` and ``receiver`` write ``OUT/ready.json`` (their port) once they listen."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _wait_forever() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def s3(addr: str, port: str) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # werkzeug: one line per request
    server = ThreadedMotoServer(ip_address=addr, port=int(port), verbose=True)
    server.start()
    print("ready", flush=True)
    _wait_forever()
    server.stop()


def media(addr: str, folder: str, out: str) -> None:
    from doubles.media_server import MediaServer

    server = MediaServer(host=addr).start()
    server.chaos = lambda size, name: ("slow", 200_000) if name.startswith("/slow/") else None
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            server.add("/" + name, path)
            server.add("/slow/" + name, path)
    Path(out, "ready.json").write_text(json.dumps({"port": server.httpd.server_address[1]}))
    _wait_forever()
    Path(out, "served.json").write_text(json.dumps([s.__dict__ for s in server.log]))
    server.stop()


def receiver(addr: str, out: str) -> None:
    from doubles.receiver import Receiver

    server = Receiver(host=addr, name=addr).start()
    Path(out, "ready.json").write_text(json.dumps({"port": server.port}))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    written = 0
    with open(Path(out, "hooks.jsonl"), "a") as log:
        while not stop.wait(0.3):
            with server.lock:
                fresh = server.requests[written:]
            for record in fresh:
                log.write(json.dumps({"at": time.time(), "path": record["path"],
                                      "id": record["headers"].get("webhook-id"),
                                      "body": record["body"].decode("utf-8", "replace")}) + "\n")
            written += len(fresh)
            log.flush()
    server.stop()


if __name__ == "__main__":
    {"s3": s3, "media": media, "receiver": receiver}[sys.argv[1]](*sys.argv[2:])
