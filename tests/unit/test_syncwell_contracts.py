"""SyncWell API contracts (section 3d) that are decided before any storage is touched:
validation of every body, the Idempotency-Key rule, auth, routing, sizes. Never a 500."""

from __future__ import annotations

import base64
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import api  # noqa: E402
from syncwell import validation as v  # noqa: E402


class NoTable:
    """Bad input must be refused before any storage call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the table was used ({name}) for a request that should be refused")


@pytest.fixture(autouse=True)
def _no_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "Table", NoTable)


def event(
    method: str,
    path: str,
    body: Any = None,
    key: str | None = "auto",
    sub: str | None = "u1",
    raw: str | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if key == "auto":
        key = str(uuid.uuid4())
    if key is not None:
        headers["idempotency-key"] = key
    text = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if b64 and text is not None:
        text = base64.b64encode(text.encode()).decode()
    ctx: dict[str, Any] = {"http": {"method": method, "path": path}, "requestId": "r-1"}
    if sub is not None:
        ctx["authorizer"] = {"jwt": {"claims": {"sub": sub}, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": headers,
        "requestContext": ctx,
        "body": text,
        "isBase64Encoded": b64,
    }


def call(*args: Any, **kwargs: Any) -> tuple[int, Any]:
    answer = api.handler(event(*args, **kwargs))
    body = json.loads(answer["body"]) if answer.get("body") else None
    return answer["statusCode"], body


GOOD_JOB = {
    "sourceConnectionId": "conn_strava_u1",
    "destinationConnectionId": "conn_fitbit_u1",
    "dataType": "workout",
    "mode": "manual",
    "priority": "high",
}

STATE_CHANGING = [
    ("POST", "/v1/sync-jobs", GOOD_JOB),
    ("PUT", "/v1/users/me/settings", {"settings": {"notificationsEnabled": True}}),
    ("POST", "/v1/export-jobs", {}),
    (
        "POST",
        "/v1/device-upload",
        {"data": [{"id": "1", "activityType": "run", "startTime": "2026-01-01T07:00:00Z"}]},
    ),
    ("POST", "/v1/connections", {"provider": "strava", "authorizationCode": "code-x"}),
    ("DELETE", "/v1/connections/conn_strava_u1", None),
    ("DELETE", "/v1/users/me", None),
]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
def test_every_state_changing_call_needs_an_idempotency_key(
    method: str, path: str, body: Any
) -> None:
    status, answer = call(method, path, body, key=None)
    assert status == 400
    assert answer["error"]["code"] == "MissingIdempotencyKey"
    status, answer = call(method, path, body, key="not-a-uuid")
    assert status == 400 and answer["error"]["code"] == "InvalidIdempotencyKey"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dataType": "heart_rate"}, "dataType"),
        ({"dataType": None}, "dataType"),
        ({"mode": "cold"}, "mode"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": 1}, "priority"),
        ({"sourceConnectionId": "strava"}, "sourceConnectionId"),
        ({"destinationConnectionId": "conn_strava_u1"}, "destinationConnectionId"),
        ({"dateRange": {"startDate": "2023-01-01", "endDate": "2023-02-01"}}, "dateRange"),
        ({"userId": "someone-else"}, "userId"),
        ({"mode": "historical"}, "dateRange"),
        (
            {
                "mode": "historical",
                "dateRange": {"startDate": "2023-02-01", "endDate": "2023-01-01"},
            },
            "dateRange.endDate",
        ),
        (
            {
                "mode": "historical",
                "dateRange": {"startDate": "2023-13-01", "endDate": "2024-01-01"},
            },
            "dateRange.startDate",
        ),
        ({"mode": "historical", "dateRange": {"startDate": "2023-01-01"}}, "dateRange.endDate"),
        (
            {
                "mode": "historical",
                "dateRange": {"startDate": "2010-01-01", "endDate": "2023-01-01"},
            },
            "dateRange",
        ),
        (
            {
                "mode": "historical",
                "dateRange": {"startDate": "2023-01-01", "endDate": "2023-02-01", "tz": "UTC"},
            },
            "tz",
        ),
    ],
)
def test_sync_job_body_is_validated(change: dict[str, Any], field: str) -> None:
    body = {**GOOD_JOB, **change}
    body = {k: val for k, val in body.items() if val is not None}
    status, answer = call("POST", "/v1/sync-jobs", body)
    assert status == 400, answer
    assert answer["error"]["field"] == field


def test_sync_job_validation_normalises_the_defaults() -> None:
    job = v.validate_sync_job({k: val for k, val in GOOD_JOB.items() if k != "priority"})
    assert job["priority"] == "medium" and "dateRange" not in job
    hist = v.validate_sync_job(
        {
            **GOOD_JOB,
            "mode": "historical",
            "dateRange": {"startDate": "2023-01-01", "endDate": "2023-12-31"},
        }
    )
    assert hist["dateRange"] == {"startDate": "2023-01-01", "endDate": "2023-12-31"}


@pytest.mark.parametrize(
    "missing", ["sourceConnectionId", "destinationConnectionId", "dataType", "mode"]
)
def test_sync_job_required_fields(missing: str) -> None:
    status, answer = call(
        "POST", "/v1/sync-jobs", {k: val for k, val in GOOD_JOB.items() if k != missing}
    )
    assert status == 400 and answer["error"]["field"] == missing


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        ("{not json", "ValidationError", 400),
        ("[1, 2]", "ValidationError", 400),
        ('"text"', "ValidationError", 400),
        ("", "ValidationError", 400),
        ("[" * 5000 + "]" * 5000, "ValidationError", 400),
        ('{"settings": {"a": NaN}}', "ValidationError", 400),
        ('{"settings": {"a": Infinity}}', "ValidationError", 400),
        ("\ud800", "ValidationError", 400),
        ('{"settings": {"a": "\\ud800"}}', "ValidationError", 400),
        (json.dumps({**GOOD_JOB, "pad": "x" * 20000}), "PayloadTooLarge", 413),
    ],
)
def test_malformed_and_oversize_bodies(raw: str, code: str, status: int) -> None:
    got, answer = call("POST", "/v1/sync-jobs", raw=raw)
    assert got == status and answer["error"]["code"] == code


def test_base64_bodies_are_decoded_before_validation() -> None:
    status, answer = call("POST", "/v1/sync-jobs", {**GOOD_JOB, "mode": "x"}, b64=True)
    assert status == 400 and answer["error"]["field"] == "mode"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "settings"),
        ({"settings": {}}, "settings"),
        ({"settings": []}, "settings"),
        ({"settings": {"notificationsEnabled": "yes"}}, "settings.notificationsEnabled"),
        (
            {"settings": {"conflictResolutionStrategy": "coin_flip"}},
            "settings.conflictResolutionStrategy",
        ),
        ({"settings": {"bad key": 1}}, "settings.bad key"),
        ({"settings": {"nested": {"a": 1}}}, "settings.nested"),
        ({"settings": {"long": "x" * 300}}, "settings.long"),
        ({"settings": {"a": 1}, "version": -1}, "version"),
        ({"settings": {"a": 1}, "userId": "u2"}, "userId"),
        ({"settings": {f"k{i}": i for i in range(51)}}, "settings"),
    ],
)
def test_settings_body_is_validated(body: dict[str, Any], field: str) -> None:
    status, answer = call("PUT", "/v1/users/me/settings", body)
    assert status == 400 and answer["error"]["field"] == field


def _workout(**change: Any) -> dict[str, Any]:
    return {"id": "w1", "activityType": "run", "startTime": "2026-01-01T07:00:00Z", **change}


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({}, "data", 400),
        ({"data": []}, "data", 400),
        ({"data": [_workout(id="")]}, "data[0].id", 400),
        ({"data": [_workout(startTime="yesterday")]}, "data[0].startTime", 400),
        ({"data": [_workout(endTime="2025-01-01T00:00:00Z")]}, "data[0].endTime", 400),
        ({"data": [_workout(calories=-5)]}, "data[0].calories", 400),
        ({"data": [_workout(heartRate=[1, 2])]}, "heartRate", 400),
        ({"data": [_workout(), _workout()]}, "data[1].id", 400),
        (
            {"data": [_workout()], "destinationConnectionId": "fitbit"},
            "destinationConnectionId",
            400,
        ),
        ({"data": [_workout(id=str(i)) for i in range(501)]}, None, 413),
    ],
)
def test_device_upload_body_is_validated(
    body: dict[str, Any], field: str | None, status: int
) -> None:
    got, answer = call("POST", "/v1/device-upload", body)
    assert got == status, answer
    if field:
        assert answer["error"]["field"] == field


def test_export_and_connection_bodies_are_validated() -> None:
    assert call("POST", "/v1/export-jobs", {"format": "csv"})[1]["error"]["field"] == "format"
    assert (
        call("POST", "/v1/export-jobs", {"dataTypes": ["dna"]})[1]["error"]["field"] == "dataTypes"
    )
    status, answer = call(
        "POST", "/v1/connections", {"provider": "myspace", "authorizationCode": "c"}
    )
    assert status == 400 and answer["error"]["field"] == "provider"
    status, answer = call("POST", "/v1/connections", {"provider": "strava"})
    assert status == 400 and answer["error"]["field"] == "authorizationCode"


def test_path_ids_are_validated() -> None:
    assert call("GET", "/v1/sync-jobs/abc")[0] == 400
    assert call("GET", "/v1/sync-jobs/job_" + str(uuid.uuid1()))[0] == 400  # not a v4
    assert call("GET", "/v1/export-jobs/job_" + str(uuid.uuid4()))[0] == 400
    assert call("DELETE", "/v1/connections/..%2f..")[0] == 400


def test_unknown_routes_methods_and_missing_identity() -> None:
    assert call("GET", "/v2/connections")[0] == 404
    assert call("GET", "/v1/users")[0] == 404
    status, answer = call("PATCH", "/v1/connections", {})
    assert status == 405 and answer["error"]["code"] == "MethodNotAllowed"
    status, answer = call("GET", "/v1/connections", sub=None)
    assert status == 401


def test_job_ids_are_uuid4_with_the_prefix_and_stable_per_key() -> None:
    job_id = "job_" + v.deterministic_uuid4("u1", "key-1")
    assert v.JOB_ID.match(job_id)
    assert uuid.UUID(job_id[4:]).version == 4
    assert job_id == "job_" + v.deterministic_uuid4("u1", "key-1")
    assert job_id != "job_" + v.deterministic_uuid4("u2", "key-1")


def test_error_bodies_are_json_and_carry_a_correlation_id() -> None:
    answer = api.handler(event("POST", "/v1/sync-jobs", {"mode": "x"}, key=None))
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["x-correlation-id"] == "r-1"
    assert set(json.loads(answer["body"])["error"]) >= {"code", "message"}


def test_no_500_for_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    weird = [
        None,
        0,
        "x",
        [],
        {"a": {"b": None}},
        {"sourceConnectionId": ["conn_a"]},
        {"dateRange": "2023"},
        {"data": "x"},
        {"settings": None},
    ]
    for body in weird:
        for method, path, _ in STATE_CHANGING:
            status, answer = call(method, path, raw=json.dumps(body))
            assert status < 500 or re.match(r"ServiceUnavailable", answer["error"]["code"]), (
                path,
                body,
            )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    [
        "sourceConnectionId",
        "destinationConnectionId",
        "dataType",
        "mode",
        "priority",
        "dateRange",
        "settings",
        "version",
        "data",
        "provider",
        "authorizationCode",
        "dataTypes",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    route=st.sampled_from(STATE_CHANGING),
    body=st.one_of(_json, st.dictionaries(_fields, _json, max_size=5)),
)
def test_fuzzed_bodies_are_answered_with_a_4xx_json_error(route: Any, body: Any) -> None:
    method, path, _ = route
    answer = api.handler(event(method, path, raw=json.dumps(body)))
    parsed = json.loads(answer["body"]) if answer["body"] else None
    # 503 only when the body was valid and the (absent) table was reached
    assert answer["statusCode"] < 500 or parsed["error"]["code"] == "ServiceUnavailable"
    if 400 <= answer["statusCode"] < 500:
        assert parsed["error"]["code"] and parsed["error"]["message"]


def test_the_openapi_document_lists_exactly_the_template_s_routes() -> None:
    """stacks/syncwell/openapi/spec.yaml is the API's source of truth (seed): every HttpApi
    route of the template is in it and it documents no route the template lacks."""
    from harness.deploy.yaml_loader import load_template_file
    from tests.fixtures.openapi_contract import OpenApiContract

    stack = SRC.parent
    template = load_template_file(stack / "template.yaml")
    routes = set()
    for resource in template["Resources"].values():
        for source in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if source.get("Type") == "HttpApi":
                routes.add((source["Properties"]["Method"].upper(), source["Properties"]["Path"]))
        if resource.get("Type") == "AWS::ApiGatewayV2::Route":  # the webhook's direct route
            method, _, path = str(resource["Properties"]["RouteKey"]).partition(" ")
            routes.add((method.upper(), path))
    assert OpenApiContract(stack / "openapi" / "spec.yaml").operations() == routes


def test_error_answers_match_the_openapi_document() -> None:
    from tests.fixtures.openapi_contract import OpenApiContract

    contract = OpenApiContract(SRC.parent / "openapi" / "spec.yaml")
    for method, path, body in [
        ("POST", "/v1/sync-jobs", {"mode": "x"}),
        ("PUT", "/v1/users/me/settings", {"settings": {}}),
        ("POST", "/v1/sync-configs", {"dataType": "nope"}),
        ("DELETE", "/v1/sync-configs/bad-id", None),
    ]:
        answer = api.handler(event(method, path, body))
        contract.check(method, path, answer["statusCode"], json.loads(answer["body"]))
    with pytest.raises(AssertionError, match=r"breaks"):
        contract.check("GET", "/v1/connections", 200, {"connections": [{"id": 1}]})
