"""An OpenAI-compatible chat completions server on 127.0.0.1 with scripted replies: the
network boundary we do not own. The real ``openai`` SDK talks to it over HTTP.

``script`` is consumed one entry per request; when it is empty, ``default`` answers.
Entries: ("json", obj) | ("text", str) | ("status", code, headers) | ("hang", seconds).
Every request body is kept in ``requests`` (with its arrival time).
``count_tokens``, when set, reports usage as the request's and the reply's characters / 4
(a plausible tokenizer) instead of the fixed 1,000 + 100.
``chaos``, when set, is called per request (after the script) with the default reply and
returns an entry or None (answer normally). ``go_down()`` closes the listening socket
(clients get "connection refused"), ``come_back()`` listens on the same port again.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from doubles.quiet_server import QuietServer


def default_reply(body: dict):
    """A plausible model: a lecture, in English; clips = the first sentences of the prompt, by
    id and by their quoted first and last words."""
    name = body["response_format"]["json_schema"]["name"]
    if name == "content_type":
        return {"content_type": "lecture", "confidence": 0.8, "language": "en"}
    prompt = body["messages"][-1]["content"]
    if name == "answer":  # cite the first passage, quoting its first words
        first = re.search(r"^\[(P\d+)\] \([^)]*\) (.*)$", prompt, re.MULTILINE)
        return {"answer": "As the video says.", "citations": [
            {"passage": first.group(1), "quote": " ".join(first.group(2).split()[:6])}] if first else []}
    lines = {int(m.group(1)): m.group(2).split() for m in re.finditer(r"^\[(\d+)\](?: \([\d.]+ s\))? (.*)$",
                                                                      prompt, re.MULTILINE)}
    ids = list(lines)
    clips = []
    for n in range(0, min(len(ids), 12), 4):
        chunk = ids[n:n + 4]
        clips.append({"start_segment": chunk[0], "end_segment": chunk[-1],
                      "first_words": " ".join(lines[chunk[0]][:6]), "last_words": " ".join(lines[chunk[-1]][-6:]),
                      "title": f"Moment {n // 4 + 1}", "hook": "Listen to this", "reason": "it matters",
                      "score": 0.9 - n / 100})
    return {"clips": clips}


class FakeOpenAI:
    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.chaos = None
        self.count_tokens = False
        self.port = 0

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with fake.lock:
                    fake.requests.append({"t": time.monotonic(), "path": self.path, "body": body,
                                          "auth": self.headers.get("Authorization")})
                    entry = fake.script.pop(0) if fake.script else None
                if entry is None:
                    reply = default_reply(body)
                    entry = (fake.chaos(reply) if fake.chaos else None) or ("json", reply)
                kind = entry[0]
                if kind == "hang":
                    time.sleep(entry[1])
                    entry = ("json", default_reply(body))
                    kind = "json"
                if kind == "status":
                    payload = json.dumps({"error": {"message": f"scripted {entry[1]}", "type": "server_error"}}).encode()
                    self.send_response(entry[1])
                    for key, value in (entry[2] if len(entry) > 2 else {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                content = json.dumps(entry[1]) if kind == "json" else entry[1]
                payload = json.dumps({
                    "id": f"chatcmpl-{len(fake.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": fake.usage(body, content),
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                # GET /v1/models: what a health check asks an OpenAI-compatible server.
                with fake.lock:
                    fake.requests.append({"t": time.monotonic(), "path": self.path, "body": None,
                                          "auth": self.headers.get("Authorization")})
                found = self.path.rstrip("/").endswith("/models")
                payload = json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 0,
                                                                   "owned_by": "fake"}]} if found else
                                     {"error": {"message": "not found", "type": "invalid_request_error"}}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._handler = Handler
        return self._listen()

    def usage(self, body: dict, content: str) -> dict:
        if not self.count_tokens:
            return {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
        prompt = sum(len(m.get("content") or "") for m in body.get("messages") or []) // 4
        return {"prompt_tokens": prompt, "completion_tokens": len(content) // 4,
                "total_tokens": prompt + len(content) // 4}

    def _listen(self) -> "FakeOpenAI":
        self.httpd = QuietServer(("127.0.0.1", self.port), self._handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def go_down(self) -> None:
        self.stop()

    def come_back(self) -> None:
        self._listen()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
