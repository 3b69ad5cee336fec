"""Cognito triggers: the device flow's CUSTOM_AUTH (Define, Create, Verify auth challenge), and
a pre-sign-up check that self sign-up cannot pick a tenant.

When the API's token endpoint hands an approved device its tokens, it signs the approving user in
with ``AdminInitiateAuth(CUSTOM_AUTH)`` and answers the one custom challenge with the device code.
The verify step accepts the answer only if the device code's grant (stored hashed in the sessions
table) was approved by this very user and has just been claimed by the token endpoint: no
password, and nobody can get another user's tokens without their approval.

Pre sign-up: the web client lets anyone sign up with an email, but ``custom:tenant_id`` is
assigned by an administrator (AdminCreateUser) or by the Google Workspace domain (federation).
Cognito refuses attributes outside the client's ``WriteAttributes``; this trigger refuses them
too, so the rule holds wherever the pool runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

from synchub.common import DEVICE_TENANT
from synchub.device import code_hash

CLAIM_WINDOW_S = 60  # the token endpoint claimed the grant at most this long ago
_table: Any = None


def grant_for(answer: str) -> dict[str, Any] | None:
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["SESSIONS_TABLE"])
    got = _table.get_item(
        Key={"tenant_id": DEVICE_TENANT, "resource_id": f"code#{code_hash(answer)}"},
        ConsistentRead=True,
    )
    item = got.get("Item")
    return dict(item) if item else None


def answer_correct(grant: dict[str, Any] | None, username: str, now: float) -> bool:
    if grant is None or grant.get("status") != "consumed":
        return False
    if str(grant.get("username", "")).lower() != username.lower():
        return False
    if now >= float(grant.get("expires_at", 0)):
        return False
    return now - float(grant.get("consumed_at", 0)) <= CLAIM_WINDOW_S


class SignUpRefused(Exception):
    pass


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    source = str(event.get("triggerSource", ""))
    request = event.get("request") or {}
    response = event.setdefault("response", {})
    if source == "PreSignUp_SignUp":
        attributes = request.get("userAttributes") or {}
        if any(name.startswith("custom:tenant") for name in attributes):
            raise SignUpRefused("custom:tenant_id is assigned by an administrator, not at sign-up")
        return event
    if source == "DefineAuthChallenge_Authentication":
        sessions = request.get("session") or []
        if not sessions:
            response.update(challengeName="CUSTOM_CHALLENGE", issueTokens=False,
                            failAuthentication=False)  # fmt: skip
        elif sessions[-1].get("challengeResult") is True:
            response.update(issueTokens=True, failAuthentication=False)
        else:
            response.update(issueTokens=False, failAuthentication=True)
    elif source == "CreateAuthChallenge_Authentication":
        response.update(
            publicChallengeParameters={"kind": "device_code"},
            privateChallengeParameters={"kind": "device_code"},
            challengeMetadata="DEVICE_CODE",
        )
    elif source == "VerifyAuthChallengeResponse_Authentication":
        answer = str(request.get("challengeAnswer") or "")
        grant = grant_for(answer) if answer and len(answer) <= 128 else None
        response["answerCorrect"] = answer_correct(
            grant, str(event.get("userName", "")), time.time()
        )
    return event
