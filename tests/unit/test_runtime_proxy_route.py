"""``POST /_harness/runtime/proxy/{name}``: Invoke for MiniStack's Lambda proxy mode, where a
function error must be a non-2xx answer (the emulator's Cognito reads only the status)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from harness.runtime.http import Request
from harness.runtime.server import RuntimeApi


class FakeRuntime:
    endpoints: dict[str, Any] = {}
    functions: dict[str, Any] = {}

    def __init__(self, error: str | None) -> None:
        self.error = error

    def resolve(self, name: str) -> Any:
        return SimpleNamespace(name=name, spec=SimpleNamespace(version="$LATEST"))

    async def invoke(
        self, pool: Any, payload: bytes, tail: bool = False, trace: str | None = None
    ) -> Any:
        body = (
            {"errorMessage": "no tenant at sign-up", "errorType": "SignUpRefused"}
            if self.error
            else json.loads(payload)
        )
        return SimpleNamespace(
            request_id="r1", payload=json.dumps(body).encode(), function_error=self.error,
            log_result=None,
        )  # fmt: skip


def post(api: RuntimeApi, path: str) -> Any:
    request = Request("POST", path, "", {}, b'{"triggerSource": "PreSignUp_SignUp"}')
    return asyncio.run(api(request))


def test_a_function_error_is_a_502_on_the_proxy_route_only() -> None:
    failing = RuntimeApi(FakeRuntime("Unhandled"))  # type: ignore[arg-type]
    proxied = post(failing, "/_harness/runtime/proxy/triggers")
    assert proxied.status == 502
    assert json.loads(proxied.body)["errorType"] == "SignUpRefused"
    invoked = post(failing, "/2015-03-31/functions/triggers/invocations")
    assert invoked.status == 200  # Lambda's Invoke API: 200 with X-Amz-Function-Error
    assert ("x-amz-function-error", "Unhandled") in invoked.headers


def test_a_result_passes_through_the_proxy_route() -> None:
    answer = post(RuntimeApi(FakeRuntime(None)), "/_harness/runtime/proxy/triggers")  # type: ignore[arg-type]
    assert answer.status == 200
    assert json.loads(answer.body) == {"triggerSource": "PreSignUp_SignUp"}
