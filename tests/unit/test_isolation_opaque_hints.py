"""Opaque-token tampering and tenant hints, without processes."""

from __future__ import annotations

import base64
import json

import pytest

from harness.isolation.hints import Hint, hint_kwargs, hints_for, owner_fields
from harness.isolation.opaque import decode, find_cursor, rewound, swap_values, tamper
from harness.isolation.spec import IsolationSpec, ResourceSpec


def b64url(value: object, padded: bool = False) -> str:
    out = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
    return out if padded else out.rstrip("=")


def unb64(text: str) -> object:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_a_base64url_json_cursor_is_swapped_and_re_encoded_padded_and_unpadded() -> None:
    token = b64url({"tenant": "t1", "pk": "TENANT#t1#NOTE", "other": "TENANT#t10", "offset": 4})
    variants = {t.how: t.token for t in tamper(token, [("t1", "t2x")])}
    assert set(variants) == {
        "b64url padded",
        "b64url unpadded",
        "b64url padded, rewound",
        "b64url unpadded, rewound",
    } or set(variants) == {
        "b64 padded",
        "b64 unpadded",
        "b64 padded, rewound",
        "b64 unpadded, rewound",
    }
    padded = [t for h, t in variants.items() if " padded" in h]
    assert all(t.endswith("=") for t in padded)
    assert all(not t.endswith("=") for h, t in variants.items() if "unpadded" in h)
    swapped = unb64(padded[0])
    assert swapped == {"tenant": "t2x", "pk": "TENANT#t2x#NOTE", "other": "TENANT#t10", "offset": 4}
    rewound_ = [unb64(t) for h, t in variants.items() if h.endswith("rewound")]
    assert rewound_ and all(v == {**swapped, "offset": 0} for v in rewound_)  # type: ignore[dict-item]


def test_jwt_shaped_tokens_keep_header_and_signature() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(b'{"org":"acme","n":1}').decode().rstrip("=")
    token = f"{header}.{payload}.c2lnbmF0dXJl"
    assert decode(token) is not None and decode(token).encoding == "jwt"  # type: ignore[union-attr]
    out = tamper(token, [("acme", "globex")])
    assert out and all(t.token.startswith(header + ".") for t in out)
    assert all(t.token.endswith(".c2lnbmF0dXJl") for t in out)
    assert unb64(out[0].token.split(".")[1]) == {"org": "globex", "n": 1}


def test_dynamodb_key_objects_and_plain_json() -> None:
    key = {"PK": {"S": "TENANT#acme"}, "SK": {"S": "ORDER#1"}}
    (only,) = tamper(key, [("acme", "globex")])
    assert json.loads(only.token)["PK"] == {"S": "TENANT#globex"}
    assert tamper(json.dumps({"t": "acme"}), [("acme", "b")])[0].token == '{"t":"b"}'


def test_a_token_carrying_no_tenant_or_user_is_not_tampered() -> None:
    assert tamper(b64url({"offset": 3}), [("t1", "t2")]) == []
    assert tamper("opaque-random-0c5e", [("t1", "t2")]) == []
    # a prefix is not the tenant: t10's partition is not t1's
    assert swap_values("TENANT#t10", [("t1", "t2")]) == "TENANT#t10"
    assert swap_values("orgs/t1/x", [("t1", "t2")]) == "orgs/t2/x"


def test_rewound_sets_numbers_to_zero_in_the_tokens_own_encoding() -> None:
    token = b64url({"tenant": "t1", "offset": 6}, padded=True)
    again = rewound(token)
    assert again is not None and again.endswith("=")
    assert unb64(again) == {"tenant": "t1", "offset": 0}
    assert rewound(b64url({"tenant": "t1"})) is None


def test_find_cursor_finds_the_usual_fields() -> None:
    assert find_cursor({"items": [], "nextToken": "abc"}) == ("$.nextToken", "abc")
    assert find_cursor({"data": {"items": [], "cursor": "c"}}) == ("$.data.cursor", "c")
    assert find_cursor({"items": [], "next": None}) is None
    assert find_cursor({"LastEvaluatedKey": {"PK": {"S": "x"}}})[0] == "$.LastEvaluatedKey"  # type: ignore[index]


RESOURCE = ResourceSpec.model_validate(
    {
        "create": {"method": "POST", "path": "/t/{tenant}/notes", "id": "$.id"},
        "read": {"method": "GET", "path": "/t/{tenant}/notes/{id}"},
        "update": {"method": "PATCH", "path": "/notes/{id}", "body": {"text": "x"}},
        "delete": {"method": "DELETE", "path": "/notes/{id}"},
        "tenant_hints": ["query:customer", "header:X-Customer"],
    }
)


def test_every_operation_gets_declared_and_inferred_hints() -> None:
    for operation in ("create", "read", "update", "delete"):
        hints = {h.where: h for h in hints_for(RESOURCE, operation)}
        assert hints["query"].names[:2] == ("customer", "tenant")
        assert {"tenant", "tenant_id", "tenantId", "org", "account"} <= set(hints["query"].names)
        assert hints["header"].names[0] == "x-customer"
        assert "x-tenant-id" in hints["header"].names
    assert "body" in {h.where for h in hints_for(RESOURCE, "update")}
    assert "body" not in {h.where for h in hints_for(RESOURCE, "delete")}  # no body to carry it
    assert Hint("path", ("tenant",)) in hints_for(RESOURCE, "read")
    assert Hint("path", ("tenant",)) not in hints_for(RESOURCE, "delete")


def test_inference_can_be_switched_off() -> None:
    declared = RESOURCE.model_copy(update={"infer_hints": False})
    assert [str(h) for h in hints_for(declared, "read")] == ["query:customer", "header:x-customer"]


def test_hint_kwargs_put_the_value_under_every_name() -> None:
    assert hint_kwargs(Hint("query", ("a", "b")), "t2", "u") == {"query": {"a": "t2", "b": "t2"}}
    assert hint_kwargs(Hint("body", ("tenant_id",)), "t2", "u") == {
        "body_extra": {"tenant_id": "t2"}
    }
    assert hint_kwargs(Hint("path", ("user",)), "t2", "u9") == {"path_owner": {"user": "u9"}}


def test_owner_fields_default_and_declared() -> None:
    assert {"tenant_id", "owner", "author", "userId"} <= set(owner_fields(RESOURCE))
    assert owner_fields(RESOURCE.model_copy(update={"owner_fields": ["org"]})) == ["org"]


@pytest.mark.parametrize("hint", ["path:org", "cookie:tenant", "query:"])
def test_a_bad_hint_is_refused(hint: str) -> None:
    with pytest.raises(ValueError, match="tenant hint"):
        IsolationSpec.model_validate(
            {
                "resources": {
                    "n": {"fixture": True, "read": {"path": "/n/{id}"}, "tenant_hints": [hint]}
                }
            }
        )
