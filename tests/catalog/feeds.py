"""Channel feeds for the tests: CSV and XLSX files written as a channel would, and a local HTTP
server (``http.server`` in a thread) answering JSON feeds, with a status or a delay per path."""

from __future__ import annotations

import csv
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openpyxl


def write_csv(path, header, rows, *, bom=False) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8"))


def write_xlsx(path, header, rows) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


class FeedServer:
    """``with FeedServer({"/feed.json": b"..."}) as server: server.url("/feed.json")``."""

    def __init__(self, bodies: dict[str, bytes], *, status: dict[str, int] | None = None,
                 delay: dict[str, float] | None = None):
        self.bodies = dict(bodies)
        self.status = status or {}
        self.delay = delay or {}
        self.hits: list[str] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                feed.hits.append(self.path)
                if self.path in feed.delay:
                    time.sleep(feed.delay[self.path])
                body = feed.bodies.get(self.path)
                code = feed.status.get(self.path, 200 if body is not None else 404)
                body = body or b""
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
