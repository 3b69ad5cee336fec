"""Cognito pre-token-generation trigger (V3_0): puts the tenant claims in M2M access tokens.

Machine-to-machine clients have no user attributes, so on AWS the tenant id gets into a
client-credentials access token through this trigger (Cognito "Essentials" tier or above). Each
tenant has one app client whose ``ClientName`` is the tenant id; the tier comes from
``TENANT_TIERS`` (JSON ``{"tenant-basic": "basic", ...}``). Clients whose name is no tenant of
``TENANT_TIERS`` get no tenant claim, so the API refuses their tokens (403).

Locally the emulator's Cognito (MiniStack) runs this trigger too: `harness deploy` registers the
function with its Lambda in proxy mode, forwarding to the harness runtime
(``harness/cognito_triggers.py``); ``harness token catalog --tenant T`` prints such a token.
"""

from __future__ import annotations

import json
import os
from typing import Any

from catalog_app import common

_NAMES: dict[str, str] = {}


def client_tenant(pool_id: str, client_id: str) -> str | None:
    if client_id in _NAMES:
        return _NAMES[client_id]
    import boto3

    described = boto3.client("cognito-idp").describe_user_pool_client(
        UserPoolId=pool_id, ClientId=client_id
    )
    name = str(described["UserPoolClient"].get("ClientName", ""))
    tenant = name if common.valid_tenant(name) else None
    if tenant is not None:
        _NAMES[client_id] = tenant
    return tenant


def claims_for(tenant: str | None) -> dict[str, str]:
    """The tenant and tier claims of a client named ``tenant``: none unless ``TENANT_TIERS``
    knows that tenant (another client of the pool, say a reporting job, is no tenant)."""
    tiers = json.loads(os.environ.get("TENANT_TIERS", "{}") or "{}")
    if tenant is None or tenant not in tiers:
        return {}
    return {common.tenant_claim_name(): tenant, common.tier_claim_name(): str(tiers[tenant])}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    caller = event.get("callerContext") or {}
    tenant = None
    if event.get("triggerSource") == "TokenGeneration_ClientCredentials":
        tenant = client_tenant(str(event.get("userPoolId")), str(caller.get("clientId")))
    claims = claims_for(tenant)
    if claims:
        event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
            "accessTokenGeneration": {"claimsToAddOrOverride": claims}
        }
    return event
