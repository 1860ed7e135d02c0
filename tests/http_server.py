"""A real HTTP server on 127.0.0.1 for download tests (no internet here, and none needed).

Each path is a :class:`Route` with a body and misbehaviours to switch on: honour or ignore ``Range``,
drop the connection after N bytes (a set number of times), corrupt a byte, answer 404 / 500, or go
slowly. Every request is logged so tests can check how many downloads happened and what was asked."""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Route:
    body: bytes
    status: int = 200              # 404, 500, ... answered instead of the body
    ranges: bool = True            # honour "Range: bytes=N-" with 206
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drop_times: int | None = 1     # ... on this many requests (None: always)
    corrupt: bool = False          # flip one byte in the middle of what is served
    delay: float = 0.0             # seconds to sleep between chunks
    chunk: int = 8192
    drops: int = 0


@dataclass
class Request:
    path: str
    range: str | None
    status: int


@dataclass
class AssetServer:
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.asset_server = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes, **options: object) -> str:
        self.routes[path] = Route(body, **options)  # type: ignore[arg-type]
        return self.url(path)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path == path]

    def record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def start(self) -> AssetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> AssetServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up on purpose in these tests (wrong size, cancel): not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so Content-Length, not the closed socket, ends a body

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server: AssetServer = self.server.asset_server  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        route = server.routes.get(path)
        range_header = self.headers.get("Range")
        if route is None or route.status != 200:
            status = 404 if route is None else route.status
            server.record(Request(path, range_header, status))
            self._send_error(status)
            return

        body = route.body
        if route.corrupt and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]

        start, end, status = 0, len(body) - 1, 200
        if range_header and route.ranges:
            match = _RANGE.match(range_header)
            if match is None or int(match.group(1)) >= len(body):
                server.record(Request(path, range_header, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(match.group(1))
            if match.group(2):
                end = min(end, int(match.group(2)))
            status = 206
        payload = body[start:end + 1]
        server.record(Request(path, range_header, status))

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes" if route.ranges else "none")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.end_headers()

        limit = len(payload)
        dropping = route.drop_after is not None and (route.drop_times is None or route.drops < route.drop_times)
        if dropping:
            route.drops += 1
            limit = min(limit, route.drop_after or 0)
        try:
            for offset in range(0, limit, route.chunk):
                self.wfile.write(payload[offset:min(offset + route.chunk, limit)])
                self.wfile.flush()
                if route.delay:
                    time.sleep(route.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if dropping:
            # Cut the connection mid-body: the client sees fewer bytes than Content-Length promised.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _send_error(self, status: int) -> None:
        text = f"{status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)
