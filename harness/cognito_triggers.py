"""Connect a deployed stack's Cognito Lambda triggers to the harness runtime.

The deployer creates user pools on the emulator and only *records* their ``LambdaConfig``
(``ResourceRecord.attributes["Triggers"]``): the trigger functions run in the harness runtime,
which the emulator's Cognito does not know. MiniStack can forward an invocation to any HTTP
endpoint instead of running the code itself ("proxy mode": a function whose environment has
``MINISTACK_LAMBDA_PROXY_URL`` gets the event JSON POSTed there and the response JSON back, a
non-2xx answer being the function's error, ``ministack/services/lambda_svc.py::
_execute_function_proxy``). The harness runtime's ``POST {runtime_url}/_harness/runtime/proxy/
{name}`` speaks exactly that (its Invoke API, with function errors as 502, so that a trigger that
raises blocks the sign-up or sign-in as on AWS), so::

    wire_pool_triggers(endpoints, stack)

registers (when a runtime runs; without one it logs a warning and wires nothing), for every
trigger ARN that names one of the stack's functions, a MiniStack function
with the same name (hence the same ARN) that proxies to the runtime, then sets the pool's
``LambdaConfig`` (and its ``UserPoolTier``: client-credentials token customisation needs
Essentials, as on AWS). Cognito then runs, for instance, the pre-token-generation trigger of a
client-credentials grant (``TokenGeneration_ClientCredentials``, V3_0) through the real handler
and signs the claims it adds. Idempotent: a pool already wired is left alone.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from typing import Any

from harness.errors import HarnessError

__all__ = ["PROXY_ENV_VAR", "trigger_arns", "wire_pool_triggers"]

logger = logging.getLogger(__name__)

PROXY_ENV_VAR = "MINISTACK_LAMBDA_PROXY_URL"
_ROLE = "arn:aws:iam::{account}:role/harness-cognito-trigger-proxy"


def trigger_arns(lambda_config: dict[str, Any] | None) -> Iterator[str]:
    """Every Lambda ARN a ``LambdaConfig`` names (plain ARNs and ``{LambdaArn: ...}`` blocks)."""
    for key, value in (lambda_config or {}).items():
        if key == "KMSKeyID":
            continue
        if isinstance(value, str) and value.startswith("arn:"):
            yield value
        elif isinstance(value, dict) and str(value.get("LambdaArn", "")).startswith("arn:"):
            yield str(value["LambdaArn"])


def _placeholder_zip() -> bytes:
    """Code for the proxy function (never run: proxy mode forwards every invocation)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("proxy.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _ensure_proxy_function(lam: Any, name: str, url: str, timeout: int, account: str) -> None:
    environment = {"Variables": {PROXY_ENV_VAR: url}}
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=_ROLE.format(account=account),
            Handler="proxy.handler",
            Code={"ZipFile": _placeholder_zip()},
            Timeout=timeout,
            Environment=environment,
            Description="harness: forwards Cognito trigger invocations to the harness runtime",
        )
        return
    if (current.get("Environment") or {}).get("Variables", {}).get(PROXY_ENV_VAR) != url:
        lam.update_function_configuration(
            FunctionName=name, Environment=environment, Timeout=timeout
        )


def wire_pool_triggers(endpoints: dict[str, Any], stack: Any) -> list[str]:
    """Make the emulator's user pools of ``stack`` invoke their triggers in the runtime.

    Returns the names of the trigger functions wired. Raises :class:`HarnessError` when a
    trigger names a function the stack does not define (a template error AWS would refuse too).
    """
    from harness.aws import client_for

    runtime_url = str(endpoints.get("runtime_url") or "").rstrip("/")
    pools = [r for r in stack.resources.values() if r.type == "AWS::Cognito::UserPool"]
    wanted = [(p, dict(p.attributes.get("Triggers") or {})) for p in pools]
    wanted = [(p, config) for p, config in wanted if config]
    if not wanted:
        return []
    if not runtime_url:  # e.g. HARNESS_RUNTIME=0: nothing could run the triggers
        logger.warning(
            "stack %s: the user pools' Lambda triggers stay unwired: no runtime is running "
            "(Cognito tokens will lack the claims they add)",
            stack.name,
        )
        return []
    by_arn = {spec.arn: spec for spec in stack.functions.values()}
    cognito = client_for(endpoints, "cognito-idp")
    lam = client_for(endpoints, "lambda", direct=True)  # the emulator's Lambda, not the runtime
    account = str(endpoints.get("account_id") or "000000000000")
    wired: list[str] = []
    for pool, config in wanted:
        for arn in trigger_arns(config):
            spec = by_arn.get(arn)
            if spec is None:
                raise HarnessError(
                    f"stack {stack.name}: user pool {pool.logical_id} has a trigger {arn} that "
                    "is none of the stack's functions",
                    fix=f"point {pool.logical_id}.LambdaConfig at a function of the template "
                    "(!GetAtt Function.Arn).",
                )
            url = f"{runtime_url}/_harness/runtime/proxy/{spec.name}"
            _ensure_proxy_function(lam, spec.name, url, max(3, int(spec.timeout) + 2), account)
            wired.append(spec.name)
        described = cognito.describe_user_pool(UserPoolId=pool.physical_id)["UserPool"]
        tier = pool.properties.get("UserPoolTier")
        if described.get("LambdaConfig") != config or (
            tier and described.get("UserPoolTier") != tier
        ):
            extra = {"UserPoolTier": tier} if tier else {}
            cognito.update_user_pool(UserPoolId=pool.physical_id, LambdaConfig=config, **extra)
            logger.info("pool %s: triggers %s wired to the runtime", pool.physical_id, wired)
    return wired
