"""Real Cognito tokens from the emulator's user pools.

(MiniStack signs its tokens only with ``cryptography`` installed in its environment, which
``harness setup`` does.) :func:`cognito_user_tokens` signs a user in on the emulator's Cognito
(``AdminInitiateAuth`` ``ADMIN_USER_PASSWORD_AUTH``, else ``InitiateAuth``
``USER_PASSWORD_AUTH``), creating the user first when asked; :func:`cognito_client_credentials`
runs the OAuth client-credentials flow (``POST {aws_endpoint}/oauth2/token``). MiniStack supports
all three and signs RS256 tokens with a per-pool key served at
``{aws_endpoint}/{pool_id}/.well-known/jwks.json``; its ``iss`` is the real AWS URL
(``https://cognito-idp.{region}.amazonaws.com/{pool_id}``), and
:func:`cognito_signature_problem` checks a token against that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from harness.auth.http import post_form
from harness.auth.jwks import fetch_jwks
from harness.errors import HarnessError, TokenError

__all__ = [
    "cognito_client_credentials",
    "cognito_password",
    "cognito_signature_problem",
    "cognito_user_tokens",
]


def _cognito(endpoints: dict[str, Any]) -> Any:
    from harness.aws import client_for

    return client_for(endpoints, "cognito-idp")


def cognito_password(pool_id: str, user: str) -> str:
    """The password the harness gives ``user`` of ``pool_id`` (stable, meets the default
    policy: upper, lower, digit, symbol)."""
    return "Harness-" + hashlib.sha256(f"{pool_id}/{user}".encode()).hexdigest()[:16] + "!1a"


def cognito_user_tokens(
    endpoints: dict[str, Any],
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    *,
    attributes: dict[str, str] | None = None,
    create: bool = True,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """``AuthenticationResult`` (AccessToken, IdToken, ...) for a user of the emulator's pool.

    With ``create`` the user is created (or updated) with ``attributes`` and a permanent
    password first. Tries ``AdminInitiateAuth`` (ADMIN_USER_PASSWORD_AUTH), then
    ``InitiateAuth`` (USER_PASSWORD_AUTH).
    """
    client = _cognito(endpoints)
    attrs = [{"Name": k, "Value": v} for k, v in (attributes or {}).items()]
    if create:
        try:
            client.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                UserAttributes=attrs,
                MessageAction="SUPPRESS",
            )
        except client.exceptions.UsernameExistsException:
            if attrs:
                client.admin_update_user_attributes(
                    UserPoolId=pool_id, Username=username, UserAttributes=attrs
                )
        client.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
    params = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
        params["SECRET_HASH"] = base64.b64encode(digest.digest()).decode()
    errors: list[str] = []
    try:
        answer = client.admin_initiate_auth(
            UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters=params,
        )  # fmt: skip
        if "AuthenticationResult" in answer:
            return dict(answer["AuthenticationResult"])
        errors.append(f"AdminInitiateAuth answered a challenge: {answer.get('ChallengeName')}")
    except Exception as exc:
        errors.append(f"AdminInitiateAuth: {exc}")
    try:
        answer = client.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
        )
        if "AuthenticationResult" in answer:
            return dict(answer["AuthenticationResult"])
        errors.append(f"InitiateAuth answered a challenge: {answer.get('ChallengeName')}")
    except Exception as exc:
        errors.append(f"InitiateAuth: {exc}")
    raise TokenError(
        f"Cognito sign-in of {username!r} on pool {pool_id} failed: " + "; ".join(errors),
        fix="enable ALLOW_ADMIN_USER_PASSWORD_AUTH or ALLOW_USER_PASSWORD_AUTH on the app client.",
    )


def cognito_client_credentials(
    endpoints: dict[str, Any],
    client_id: str,
    client_secret: str,
    scopes: Iterable[str] = (),
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The OAuth 2.0 client-credentials flow against the emulator's ``/oauth2/token``."""
    url = str(endpoints["aws_endpoint"]).rstrip("/") + "/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": client_id}
    scopes = list(scopes)
    if scopes:
        form["scope"] = " ".join(scopes)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return post_form(url, form, headers={"Authorization": f"Basic {basic}"}, timeout=timeout)


def cognito_signature_problem(endpoints: dict[str, Any], pool_id: str, token: str) -> str:
    """Why ``token`` does not verify against the emulator pool's JWKS ("" if it does)."""
    import jwt

    url = f"{str(endpoints['aws_endpoint']).rstrip('/')}/{pool_id}/.well-known/jwks.json"
    try:
        keys = fetch_jwks(url)
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next((k for k in keys if k.get("kid") == kid), None)
        if jwk is None:
            return f"no key {kid!r} at {url}"
        key: Any = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
    except (HarnessError, jwt.PyJWTError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return ""
