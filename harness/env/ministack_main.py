"""Run ministack with its Step Functions engine's Lambda tasks sent to the harness's runtime.

ministack interprets Amazon States Language itself (Task, Choice, Wait, Pass, Succeed, Fail,
Parallel, Map; Retry, Catch, TimeoutSeconds, ``.waitForTaskToken`` callbacks) but runs a Lambda
task with its own co-located Lambda service, where the harness's functions are not: they live in
the harness's runtime. This launcher (run by ministack's interpreter, so standard library only)
replaces three module functions of ``ministack.services.stepfunctions`` before ministack starts:

* ``_call_lambda``: the task's function is invoked through the Lambda Invoke API at
  ``HARNESS_LAMBDA_ENDPOINT`` (the AWS edge, which routes ``lambda`` to the runtime), so it runs in
  the harness's runtime with its faults, concurrency and logs. A function error becomes the
  task's error as AWS reports it (``Error`` = the function's ``errorType``, ``Cause`` = the JSON
  error payload); 404 is ``Lambda.ResourceNotFoundException``, 429
  ``Lambda.TooManyRequestsException``, anything else ``Lambda.ServiceException``.
* ``_execute_task``: ``TimeoutSecondsPath`` and ``HeartbeatSecondsPath`` (reference paths into
  the state's input) are resolved to ``TimeoutSeconds`` / ``HeartbeatSeconds``.
* ``_invoke_with_callback``: ``HeartbeatSeconds`` is enforced (ministack records
  ``SendTaskHeartbeat`` but never times out on it): a callback task that goes longer than
  ``HeartbeatSeconds`` without a heartbeat fails with ``States.HeartbeatTimeout``.

Without ``HARNESS_LAMBDA_ENDPOINT`` ministack runs unchanged.

Whatever it runs, every socket ministack binds is confined to ``BIND_HOST`` (loopback): some of
its side listeners (IoT's MQTT broker, RDS and DSQL proxies, SFTP) bind ``0.0.0.0`` whatever
``BIND_HOST`` says, and an environment must not be reachable from another machine.

With ``HARNESS_STATE_DIR`` set, ministack's own control paths (``/_ministack/reset``, its config
and its peeks at SQS/SES/SMS messages) require the environment's secret (``X-Harness-Secret``,
read from ``<state dir>/control-secret``) even on ministack's own port, which any local process
can find: without it they answer 403 and the call is appended to ``control-probes.jsonl``.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

if __package__:
    from harness.env.binds import confine_binds
else:  # run as a script by ministack's interpreter: this folder is sys.path[0]
    from binds import confine_binds  # type: ignore[no-redef]

__all__ = [
    "call_lambda",
    "confine_binds",
    "guard_control",
    "install",
    "resolve_path",
    "resolve_seconds_paths",
    "watch_heartbeat",
]

INVOKE_TIMEOUT_S = 900.0  # Lambda's own maximum
_AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/lambda/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def resolve_path(document: Any, path: str) -> Any:
    """A reference path (``$``, ``$.a.b``, ``$.a[0].b``) in ``document``; KeyError if absent."""
    if path == "$":
        return document
    if not path.startswith("$."):
        raise KeyError(path)
    value = document
    for part in path[2:].replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            value = value[int(part[1:-1])]
        elif isinstance(value, dict):
            value = value[part]
        else:
            raise KeyError(path)
    return value


def resolve_seconds_paths(state_def: dict[str, Any], raw_input: Any) -> dict[str, Any]:
    """``state_def`` with ``*SecondsPath`` fields replaced by the seconds they point to."""
    if "TimeoutSecondsPath" not in state_def and "HeartbeatSecondsPath" not in state_def:
        return state_def
    out = copy.copy(state_def)
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        path = out.pop(f"{field}Path", None)
        if path is None:
            continue
        try:
            value = resolve_path(raw_input, str(path))
        except (KeyError, IndexError, TypeError, ValueError):
            raise ValueError(f"{field}Path {path} is not in the state's input") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{field}Path {path} must point to a positive number, not {value!r}")
        out[field] = int(value)
    return out


def _function_name(func_ref: str) -> str:
    if func_ref.startswith("arn:"):
        parts = func_ref.split(":")
        return ":".join(parts[6:8]) if len(parts) > 7 else parts[6]
    return func_ref


def call_lambda(
    endpoint: str, func_ref: str, event: Any, error: Callable[[str, str], Exception], region: str
) -> Any:
    """Invoke ``func_ref`` (name, ``name:qualifier`` or ARN) synchronously through ``endpoint``."""
    name = _function_name(str(func_ref))
    url = f"{endpoint.rstrip('/')}/2015-03-31/functions/{urllib.parse.quote(name, safe='')}"
    request = urllib.request.Request(
        url + "/invocations",
        data=json.dumps(event).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "x-amz-invocation-type": "RequestResponse",
            "authorization": _AUTH.format(region=region),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as response:
            payload = response.read()
            function_error = response.headers.get("x-amz-function-error")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        kind = {404: "ResourceNotFoundException", 429: "TooManyRequestsException"}.get(
            exc.code, "ServiceException"
        )
        raise error(f"Lambda.{kind}", text or f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise error("Lambda.ServiceException", f"the Lambda endpoint failed: {exc}") from None
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = payload.decode("utf-8", "replace")
    if function_error:
        if isinstance(body, dict):
            raise error(str(body.get("errorType") or "Lambda.Unknown"), json.dumps(body))
        raise error("Lambda.Unknown", str(body))
    return body


def watch_heartbeat(
    tokens: dict[str, dict[str, Any]], token: str, seconds: float, poll: float = 0.1
) -> threading.Thread:
    """Fail the callback ``token`` with ``States.HeartbeatTimeout`` when no heartbeat (a change of
    ``tokens[token]["heartbeat"]``) comes within ``seconds``; stops once the token is gone."""

    def run() -> None:
        last_seen: Any = None
        since = time.monotonic()
        while True:
            info = tokens.get(token)
            if info is None or info["event"].is_set():
                return
            beat = info.get("heartbeat")
            if beat != last_seen:
                last_seen, since = beat, time.monotonic()
            elif time.monotonic() - since > seconds:
                info["error"] = {
                    "Error": "States.HeartbeatTimeout",
                    "Cause": f"no heartbeat within {seconds:g} seconds",
                }
                info["event"].set()
                return
            time.sleep(poll)

    thread = threading.Thread(target=run, name=f"heartbeat-{token[:8]}", daemon=True)
    thread.start()
    return thread


def install(sfn: Any, endpoint: str, region: str) -> None:
    """Patch ministack's Step Functions module ``sfn`` (see the module docstring)."""
    execution_error = sfn._ExecutionError
    original_task = sfn._execute_task
    original_callback = sfn._invoke_with_callback

    def call(func_ref: str, event: Any) -> Any:
        return call_lambda(endpoint, func_ref, event, execution_error, region)

    def execute_task(state_def: dict[str, Any], raw_input: Any, execution: Any, ctx: Any) -> Any:
        try:
            resolved = resolve_seconds_paths(state_def, raw_input)
        except ValueError as exc:
            raise execution_error("States.Runtime", str(exc)) from None
        return original_task(resolved, raw_input, execution, ctx)

    def with_callback(resource: str, input_data: Any, token: str, state_def: dict[str, Any]) -> Any:
        beat = state_def.get("HeartbeatSeconds")
        if beat:
            # the token is registered by the original before it invokes anything; watch from a
            # thread that waits for it to appear
            def start_watch() -> None:
                deadline = time.monotonic() + 5
                while token not in sfn._task_tokens and time.monotonic() < deadline:
                    time.sleep(0.01)
                watch_heartbeat(sfn._task_tokens, token, float(beat))

            threading.Thread(target=start_watch, daemon=True).start()
        return original_callback(resource, input_data, token, state_def)

    sfn._call_lambda = call
    sfn._execute_task = execute_task
    sfn._invoke_with_callback = with_callback


GUARDED = (
    "/_ministack/reset",
    "/_ministack/config",
    "/_ministack/sqs/",
    "/_ministack/ses/",
    "/_ministack/sns/",
)


def guard_control(app: Any, state_dir: str) -> Any:
    """``app`` (ASGI) with ministack's control paths behind the environment's secret."""
    import hmac

    def secret() -> str:
        try:
            with open(os.path.join(state_dir, "control-secret")) as handle:
                return handle.read().strip()
        except OSError:
            return ""

    def record(scope: dict[str, Any]) -> None:
        client = scope.get("client")
        entry = {
            "time": time.time(),
            "server": "services",
            "method": scope.get("method"),
            "path": str(scope.get("path", ""))[:300],
            "peer": f"{client[0]}:{client[1]}" if client else None,
        }
        try:
            fd = os.open(
                os.path.join(state_dir, "control-probes.jsonl"),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o600,
            )
            with os.fdopen(fd, "a") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")
        except OSError:
            pass

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")) if scope.get("type") == "http" else ""
        if path.startswith(GUARDED) or path.rstrip("/") in GUARDED:
            given = ""
            for name, value in scope.get("headers") or []:
                if name.lower() == b"x-harness-secret":
                    given = value.decode("latin-1")
            expected = secret()
            if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                record(scope)
                body = json.dumps(
                    {
                        "message": f"{path} is the harness's control plane: it requires the "
                        "environment's secret (X-Harness-Secret). The call was recorded."
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def main() -> None:  # pragma: no cover - runs under ministack's interpreter
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # harness/env holds modules ministack must not see
    confine_binds(os.environ.get("BIND_HOST") or "127.0.0.1")
    endpoint = os.environ.get("HARNESS_LAMBDA_ENDPOINT")
    if endpoint:
        from ministack.services import stepfunctions

        install(stepfunctions, endpoint, os.environ.get("MINISTACK_REGION", "us-east-1"))
    import ministack.app

    state_dir = os.environ.get("HARNESS_STATE_DIR")
    if state_dir:  # main() serves the module's `app`: guard it first
        ministack.app.app = guard_control(ministack.app.app, state_dir)
    ministack.app.main()


if __name__ == "__main__":  # pragma: no cover
    main()
