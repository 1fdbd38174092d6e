"""The slice of kubelet's HTTPS API that `kubectl logs` needs: GET /containerLogs/<ns>/<pod>/<container>.

The apiserver proxies `kubectl logs` to the node's InternalIP and daemonEndpoints port with its kubelet-client
certificate; this server accepts only clients with a certificate from the cluster CA. Supported query
parameters: follow, tailLines, limitBytes. Other kubelet endpoints (exec, attach, port-forward) answer 404.
"""

import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# (namespace, pod, container) -> the log file, or None; and whether that container still runs.
LogLocator = Callable[[str, str, str], Path | None]
RunningCheck = Callable[[str, str, str], bool]


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def make_handler(locate: LogLocator, is_running: RunningCheck) -> type[BaseHTTPRequestHandler]:
    class LogsHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # the apiserver's own audit covers these requests

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self.send_error(404, "the local node serves only /containerLogs")
                return
            namespace, pod, container = parts[1:]
            path = locate(namespace, pod, container)
            if path is None or not path.exists():
                self.send_error(404, f"no logs for container {container!r} of pod {namespace}/{pod} on this node")
                return
            query = urllib.parse.parse_qs(url.query)
            follow = query.get("follow", ["false"])[0] == "true"
            tail_lines = int(query["tailLines"][0]) if "tailLines" in query else None
            limit = int(query["limitBytes"][0]) if "limitBytes" in query else None

            data = path.read_bytes()
            if tail_lines is not None:
                data = _tail(data, tail_lines)
            if limit is not None:
                data = data[:limit]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            if not follow:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            # HTTP/1.0 without a length: the body ends when the connection closes, after the container does.
            self.end_headers()
            offset = path.stat().st_size
            self._send(data)
            while True:
                running = is_running(namespace, pod, container)
                try:
                    with path.open("rb") as f:
                        f.seek(offset)
                        more = f.read()
                except FileNotFoundError:
                    break
                if more:
                    offset += len(more)
                    self._send(more)
                elif not running:
                    break
                else:
                    time.sleep(0.2)

        def _send(self, data: bytes) -> None:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return LogsHandler


def serve(
    port: int, cert: Path, key: Path, ca: Path, locate: LogLocator, is_running: RunningCheck
) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1:port in a daemon thread; returns the server (call shutdown() to stop)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(locate, is_running))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(str(ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="node-logs").start()
    return server
