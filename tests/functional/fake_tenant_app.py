"""A small multi-tenant orders API, correct or broken on purpose, to prove the isolation machine
finds each bug class. Tokens are 'TENANT|USER' (the tests mint them); no crypto needed here."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VARIANTS = (
    "correct",
    "trusts_query",
    "prefix_list",
    "unfiltered_list",
    "no_owner_check",
    "case_insensitive",
    "trusts_body",
    "tenant_param_on_write",  # PATCH/DELETE honour ?tenant=
    "cursor_partition",  # the page token's tenant picks the partition
    "page2_leak",  # pages after the first restart over every tenant's orders
    "filter_leak",  # the documented ?status= filter forgets the tenant
    "owner_move",  # PATCH's body tenant_id moves the order
    "strict_body",  # correct, and a body with an unknown field is a 400 (pydantic extra=forbid)
)

PAGE = 2


def _token(tenant: str, offset: int) -> str:
    raw = json.dumps({"tenant": tenant, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("offset"), int) else None


def make_handler(variant: str, store: dict[str, dict[str, object]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms delayed ACK

        def log_message(self, *args: object) -> None:
            pass

        def answer(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def tenant(
            self, query: dict[str, list[str]], body: dict[str, object] | None = None
        ) -> str | None:
            auth = self.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or "|" not in auth:
                return None
            tenant = auth[7:].split("|", 1)[0]
            if variant == "trusts_query" and query.get("tenant_id"):
                return query["tenant_id"][0]
            if variant == "trusts_body" and body and isinstance(body.get("tenant_id"), str):
                return str(body["tenant_id"])
            if variant == "case_insensitive":
                return tenant.lower()
            return tenant

        def route(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            tenant = self.tenant(query, body)
            if tenant is None:
                return self.answer(401, {"message": "Unauthorized"})
            segments = [s for s in parts.path.split("/") if s]
            if variant == "strict_body" and set(body or {}) - {"note"}:
                # validated before any lookup, as CodexFlow's models do: the same 400 for a
                # foreign and an own order
                return self.answer(400, {"message": "unknown fields", "fields": sorted(body)})
            if segments == ["orders"] and method == "POST":
                order = {
                    "order_id": str(uuid.uuid4()),
                    "tenant": tenant,
                    "note": (body or {}).get("note", ""),
                }
                store[order["order_id"]] = order
                return self.answer(201, order)
            if segments == ["orders"] and method == "GET":
                return self.listing(tenant, query)
            if variant == "tenant_param_on_write" and method in ("PATCH", "DELETE"):
                tenant = query.get("tenant", [tenant])[0]
            if len(segments) == 2 and segments[0] == "orders":
                order = store.get(segments[1])
                if order is None or (variant != "no_owner_check" and order["tenant"] != tenant):
                    return self.answer(404, {"message": "not found"})
                if method == "GET":
                    return self.answer(200, order)
                if method == "PATCH":
                    order["note"] = (body or {}).get("note", "")
                    moved = (body or {}).get("tenant_id")
                    if variant == "owner_move" and isinstance(moved, str) and moved:
                        order["tenant"] = moved
                    return self.answer(200, order)
                if method == "DELETE":
                    del store[segments[1]]
                    return self.answer(204, {})
            return self.answer(404, {"message": "Not Found"})

        def listing(self, tenant: str, query: dict[str, list[str]]) -> None:
            partition, offset = tenant, 0
            if query.get("cursor"):
                token = _untoken(query["cursor"][0])
                if token is None:
                    return self.answer(400, {"message": "bad cursor"})
                if token.get("tenant") != tenant:
                    if variant != "cursor_partition":
                        return self.answer(400, {"message": "cursor of another query"})
                    partition = str(token.get("tenant"))
                offset = max(0, int(str(token["offset"])))
            orders = sorted(store.values(), key=lambda o: str(o["order_id"]))
            if variant == "unfiltered_list":
                items = orders
            elif variant == "prefix_list":
                items = [o for o in orders if str(o["tenant"]).startswith(partition)]
            elif (variant == "page2_leak" and offset > 0) or (
                variant == "filter_leak" and query.get("status")
            ):
                items = orders
            else:
                items = [o for o in orders if o["tenant"] == partition]
            start = offset - PAGE if variant == "page2_leak" and offset > 0 else offset
            page = items[start : start + PAGE]
            answer: dict[str, object] = {"items": page}
            if len(page) == PAGE:
                answer["next"] = _token(partition, offset + PAGE)
            return self.answer(200, answer)

        def do_GET(self) -> None:
            self.route("GET")

        def do_POST(self) -> None:
            self.route("POST")

        def do_PATCH(self) -> None:
            self.route("PATCH")

        def do_DELETE(self) -> None:
            self.route("DELETE")

    return Handler


@contextmanager
def serve(variant: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(variant, {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


SPEC = {
    "owner": "tenant",
    "resources": {
        "order": {
            "create": {
                "method": "POST",
                "path": "/orders",
                "body": {"note": "{text}"},
                "id": "$.order_id",
                "expect": [201],
            },
            "read": {"method": "GET", "path": "/orders/{id}"},
            "list": {
                "method": "GET",
                "path": "/orders",
                "items": "$.items",
                "id_field": "order_id",
                "next": "$.next",
                "cursor_param": "cursor",
                "max_pages": 500,  # the store grows over 150 examples: walk all of it
                "filters": [{"status": "open"}],
            },
            "update": {"method": "PATCH", "path": "/orders/{id}", "body": {"note": "{text}"}},
            "delete": {"method": "DELETE", "path": "/orders/{id}"},
            "tenant_hints": ["query:tenant_id", "header:x-tenant-id", "body:tenant_id"],
        }
    },
}
