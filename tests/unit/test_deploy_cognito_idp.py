"""AWS::Cognito::UserPoolIdentityProvider: what the deployer asks the emulator's Cognito for."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources import cognito_identity_provider as idp


class FakeCognito:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_identity_provider(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create", kwargs))
        return {"IdentityProvider": kwargs}

    def delete_identity_provider(self, **kwargs: Any) -> None:
        self.calls.append(("delete", kwargs))


class FakeContext:
    def __init__(self) -> None:
        self.cognito = FakeCognito()

    def client(self, service: str) -> FakeCognito:
        assert service == "cognito-idp"
        return self.cognito

    def call(self, logical_id: str, backend: str, fn: Any, **kwargs: Any) -> Any:
        return fn(**kwargs)

    def quietly(self, fn: Any, **kwargs: Any) -> Any:
        return fn(**kwargs)


PROPS = {
    "UserPoolId": "us-east-1_abc",
    "ProviderName": "Google",
    "ProviderType": "OIDC",
    "ProviderDetails": {"client_id": "cid", "oidc_issuer": "http://127.0.0.1:9", "x": 1},
    "AttributeMapping": {"email": "email", "custom:tenant_id": "hd"},
}


def test_create_passes_details_as_strings_and_refs_the_provider_name() -> None:
    ctx = FakeContext()
    rec = idp.create(ctx, "GoogleIdentityProvider", dict(PROPS))  # type: ignore[arg-type]
    assert rec.physical_id == "Google" and rec.type == "AWS::Cognito::UserPoolIdentityProvider"
    kind, args = ctx.cognito.calls[0]
    assert kind == "create" and args["ProviderDetails"]["x"] == "1"
    assert args["AttributeMapping"] == {"email": "email", "custom:tenant_id": "hd"}
    assert "IdpIdentifiers" not in args


def test_update_replaces_and_delete_names_pool_and_provider() -> None:
    ctx = FakeContext()
    old = idp.create(ctx, "GoogleIdentityProvider", dict(PROPS))  # type: ignore[arg-type]
    idp.update(ctx, old, {**PROPS, "IdpIdentifiers": ["google"]})  # type: ignore[arg-type]
    assert [c[0] for c in ctx.cognito.calls] == ["create", "delete", "create"]
    assert ctx.cognito.calls[1][1] == {"UserPoolId": "us-east-1_abc", "ProviderName": "Google"}
    assert ctx.cognito.calls[2][1]["IdpIdentifiers"] == ["google"]
