"""A scripted HTTP server on loopback for fault injection: each request to a path takes the next planned answer
(status, JSON or raw body, headers, a delay), or the path's standing answer; every request is recorded.

    with FaultServer() as server:
        server.plan("/fhir/Patient", Answer(503), Answer(200, bundle))
        ... server.url("/fhir") ... server.requests
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # a dict/list (sent as JSON), str or bytes (sent as is), or None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body.decode()).items()}


class FaultServer:
    def __init__(self):
        self.plans: dict[str, deque] = defaultdict(deque)
        self.standing: dict[str, Answer | Callable[[Seen], Answer]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parsed.path, urllib.parse.parse_qs(parsed.query),
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with server._lock:
                    server.requests.append(seen)
                    planned = server.plans[parsed.path].popleft() if server.plans[parsed.path] else None
                answer = planned or server.standing.get(parsed.path) or Answer(404, {
                    "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})
                if callable(answer):
                    answer = answer(seen)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                body = answer.body
                if isinstance(body, (dict, list)):
                    payload, kind = json.dumps(body).encode(), "application/fhir+json"
                elif isinstance(body, str):
                    payload, kind = body.encode(), "text/html"
                else:
                    payload, kind = body or b"", "application/octet-stream"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.headers.get("Content-Type", kind))
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        if name != "Content-Type":
                            self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def plan(self, path: str, *answers: Answer) -> None:
        self.plans[path].extend(answers)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
