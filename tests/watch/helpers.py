"""A webhook receiver on loopback and an --exec command, for the watch tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# An --exec command body for the tests: append the event on stdin to the file named by argv[1].
APPEND_STDIN = 'import sys; open(sys.argv[1], "a").write(sys.stdin.read())'


class WebhookReceiver:
    """Collects JSON POST bodies; answers the first `fail_first` requests with 503."""

    def __init__(self, fail_first: int = 0):
        self.events: list[dict] = []
        self.requests = 0
        self._fail_first = fail_first
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    receiver.requests += 1
                    failing = receiver.requests <= receiver._fail_first
                    if not failing:
                        receiver.events.append(json.loads(body))
                    receiver._changed.notify_all()
                self.send_response(503 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)
