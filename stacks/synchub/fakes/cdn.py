"""The web console's CDN: a stand-in for the WebStack's CloudFront distribution.

It serves the objects of the web bucket (read through the AWS endpoint, as CloudFront reads its
origin through an origin access identity) with SPA routing: a path with no object (S3's 403/404)
answers ``/index.html`` with 200, as the distribution's custom error responses do, so deep links
such as ``/device`` or ``/callback`` reach the single-page app. ``/`` is ``/index.html``.

    python fakes/cdn.py --port 8000
    POST /_control/config {"aws_endpoint": "http://127.0.0.1:4566", "bucket": "synchub-dev-web-..."}

``harness deploy`` starts it (harness.yaml ``fixtures.fake_servers.cdn``, bound to the template's
``WebConsoleUrl``); the seed hook uploads ``web/`` to the bucket and sends the configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_state: dict[str, Any] = {}
_lock = threading.Lock()


def object_key(path: str) -> str:
    """The bucket key a request path asks for (``/`` and ``/dir/`` are their index.html)."""
    key = unquote(urlsplit(path).path).lstrip("/")
    if key == "" or key.endswith("/"):
        key += "index.html"
    return key


def _s3() -> tuple[Any, str]:
    with _lock:
        if "client" not in _state:
            import boto3
            from botocore.config import Config

            _state["client"] = boto3.client(
                "s3",
                endpoint_url=_state["aws_endpoint"],
                region_name=_state.get("region", "us-east-1"),
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
            )
        return _state["client"], str(_state["bucket"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write("cdn: " + fmt % args + "\n")

    def _send(
        self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_POST(self) -> None:
        if self.path != "/_control/config":
            self._json(405, {"message": "Method Not Allowed"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            config = json.loads(self.rfile.read(length) or b"{}")
            assert isinstance(config, dict) and config.get("aws_endpoint") and config.get("bucket")
        except (ValueError, AssertionError):
            self._json(400, {"message": "need aws_endpoint and bucket"})
            return
        with _lock:
            _state.clear()
            _state.update(config)
        self._json(200, {"configured": True})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.path == "/_control/health":
            self._json(200, {"status": "ok", "configured": "bucket" in _state})
            return
        if "bucket" not in _state:
            self._json(503, {"message": "the CDN has no origin yet (POST /_control/config)"})
            return
        client, bucket = _s3()
        key = object_key(self.path)
        fallback = False
        try:
            got = client.get_object(Bucket=bucket, Key=key)
        except client.exceptions.NoSuchKey:
            got, fallback = None, True
        except Exception as exc:  # S3 answers 403 for a missing key without ListBucket
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in ("403", "404", "AccessDenied", "NoSuchKey"):
                self._json(502, {"message": f"origin error: {exc}"})
                return
            got, fallback = None, True
        if fallback:  # SPA routing: CloudFront's 403/404 -> /index.html, 200
            got = client.get_object(Bucket=bucket, Key="index.html")
        assert got is not None
        body = got["Body"].read()
        headers = {
            "Cache-Control": got.get("CacheControl") or "no-cache",
            "X-Cache": "Miss from cdn",
        }
        if fallback:
            headers["X-Spa-Fallback"] = "index.html"
        self._send(200, body, got.get("ContentType") or "application/octet-stream", headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
