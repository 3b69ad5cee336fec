"""API specs: what the gateway serves from stages and usage plans, and what it refuses."""

from __future__ import annotations

from typing import Any

from harness.deploy.specs import build_apis, build_event_sources
from harness.deploy.unsupported import Unsupported
from harness.model import ResourceRecord

FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:shop-Fn"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN_ARN}/invocations"


def rec(
    logical_id: str, type_: str, physical: str, props: dict[str, Any], **attrs: Any
) -> ResourceRecord:
    return ResourceRecord(
        logical_id, type_, physical, arn=attrs.pop("arn", None), attributes=attrs, properties=props
    )


def _op(kind: str = "aws_proxy") -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": kind, "httpMethod": "POST", "uri": URI}}


def records(
    body: dict[str, Any], *parts: ResourceRecord, rest: bool = True
) -> dict[str, ResourceRecord]:
    api_type = "AWS::ApiGateway::RestApi" if rest else "AWS::ApiGatewayV2::Api"
    items = [
        rec("Fn", "AWS::Lambda::Function", "shop-Fn", {"Handler": "a.b"}, arn=FN_ARN, CodeDir="/c"),
        rec("Api", api_type, "abc123", {"Body": body}, ApiEndpoint="http://gw/shop/Api"),
        *parts,
    ]
    return {r.logical_id: r for r in items}


BODY = {"paths": {"/orders": {"get": _op(), "post": _op()}, "/": {"get": _op()}}}


def _stage(props: dict[str, Any], rest: bool = True) -> ResourceRecord:
    type_ = "AWS::ApiGateway::Stage" if rest else "AWS::ApiGatewayV2::Stage"
    key = "RestApiId" if rest else "ApiId"
    name = props.get("StageName", "Prod")
    return rec("Stage", type_, name, {key: "abc123", **props})


def test_usage_plan_method_throttles_are_served_per_route() -> None:
    plan = rec(
        "Plan",
        "AWS::ApiGateway::UsagePlan",
        "plan1",
        {
            "ApiStages": [
                {
                    "ApiId": "abc123",
                    "Stage": "Prod",
                    "Throttle": {"/orders/GET": {"RateLimit": 2, "BurstLimit": 1}},
                }
            ],
            "Throttle": {"RateLimit": 100, "BurstLimit": 50},
        },
    )
    found: list[Unsupported] = []
    api = build_apis(records(BODY, _stage({}), plan), unsupported=found)["Api"]
    assert found == []
    (spec,) = api.usage_plans
    assert spec.throttle is not None and spec.throttle.rate == 100
    assert set(spec.method_throttles) == {"GET /orders"}
    assert spec.method_throttles["GET /orders"].rate == 2.0
    assert spec.method_throttles["GET /orders"].burst == 1


def test_a_method_throttle_naming_no_route_is_refused() -> None:
    plan = rec(
        "Plan",
        "AWS::ApiGateway::UsagePlan",
        "plan1",
        {"ApiStages": [{"ApiId": "abc123", "Throttle": {"/nope/GET": {"RateLimit": 2}}}]},
    )
    found: list[Unsupported] = []
    build_apis(records(BODY, _stage({}), plan), unsupported=found, file="t.yaml")
    assert [(u.logical_id, u.property) for u in found] == [
        ("Plan", "ApiStages[0].Throttle./nope/GET")
    ]
    assert "names no route" in found[0].reason and "/orders/GET" in found[0].reason


def test_rest_method_settings_throttle_the_routes_they_name() -> None:
    stage = _stage(
        {
            "MethodSettings": [
                {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 50},
                {"ResourcePath": "/", "HttpMethod": "GET", "ThrottlingRateLimit": 3,
                 "ThrottlingBurstLimit": 2},
                {"ResourcePath": "/~1orders", "HttpMethod": "POST", "ThrottlingRateLimit": 1,
                 "ThrottlingBurstLimit": 1},
            ]
        }
    )  # fmt: skip
    found: list[Unsupported] = []
    api = build_apis(records(BODY, stage), unsupported=found)["Api"]
    assert found == []
    assert api.stage_throttle is not None and api.stage_throttle.rate == 50
    throttles = {(r.method, r.path): r.throttle for r in api.routes}
    assert throttles[("GET", "/")] is not None and throttles[("GET", "/")].rate == 3
    assert throttles[("POST", "/orders")] is not None and throttles[("POST", "/orders")].burst == 1
    assert throttles[("GET", "/orders")] is None


def test_caching_and_unserved_extensions_and_integrations_are_refused() -> None:
    body = {
        "x-amazon-apigateway-request-validators": {"all": {"validateRequestBody": True}},
        "x-amazon-apigateway-endpoint-configuration": {"types": ["REGIONAL"]},
        "paths": {
            "/orders": {"get": {**_op("aws"), "x-amazon-apigateway-request-validator": "all"}}
        },
    }
    stage = _stage(
        {"MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "CachingEnabled": True}]}
    )
    found: list[Unsupported] = []
    build_apis(records(body, stage), unsupported=found, file="t.yaml")
    where = sorted((u.logical_id, u.property) for u in found)
    assert where == [
        ("Api", "Body.paths./orders.get"),
        ("Api", "Body.paths./orders.get.x-amazon-apigateway-request-validator"),
        ("Api", "Body.x-amazon-apigateway-request-validators"),
        ("Stage", "MethodSettings[0].CachingEnabled"),
    ]
    integration = next(u for u in found if u.property == "Body.paths./orders.get")
    assert "integration type AWS" in integration.reason


def test_an_http_api_named_stage_is_part_of_its_url() -> None:
    body = {"paths": {"/orders": {"get": _op()}}}
    named = build_apis(records(body, _stage({"StageName": "dev"}, rest=False), rest=False))["Api"]
    assert named.stage == "dev" and named.base_url == "http://gw/shop/Api/dev"
    default = build_apis(records(body, _stage({"StageName": "$default"}, rest=False), rest=False))
    assert default["Api"].base_url == "http://gw/shop/Api"


def test_event_sources_that_would_invoke_nothing_are_refused() -> None:
    items = records(BODY)
    items["Mapping"] = rec(
        "Mapping",
        "AWS::Lambda::EventSourceMapping",
        "uuid",
        {"FunctionName": "shop-Fn", "EventSourceArn": "arn:aws:kafka:us-east-1:1:cluster/x"},
    )
    items["Schedule"] = rec(
        "Schedule",
        "AWS::Scheduler::Schedule",
        "s",
        {"ScheduleExpression": "rate(1 minute)", "Target": {"Arn": "arn:aws:states:::x"}},
    )
    items["Rule"] = rec(
        "Rule",
        "AWS::Events::Rule",
        "r",
        {
            "EventPattern": {"source": ["x"]},
            "Targets": [
                {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
                {"Id": "sfn", "Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:m"},
            ],
        },
        arn="arn:aws:events:us-east-1:000000000000:rule/r",
    )
    found: list[Unsupported] = []
    assert build_event_sources(items, unsupported=found, file="t.yaml") == []
    assert sorted((u.logical_id, u.property) for u in found) == [
        ("Mapping", "EventSourceArn"),
        ("Rule", "Targets[1].Arn"),
        ("Schedule", "Target.Arn"),
    ]


def test_cidr_and_wildcard_filters_and_unknown_operators_refused() -> None:
    from harness.runtime.filters import matches, unknown_operators

    cidr = {"body": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}
    assert matches(cidr, {"body": {"sourceIPAddress": "10.0.0.11"}})
    assert not matches(cidr, {"body": {"sourceIPAddress": "10.0.1.11"}})
    assert not matches(cidr, {"body": {"sourceIPAddress": "not-an-ip"}})
    wildcard = {"key": [{"wildcard": "in/*.csv"}]}
    assert matches(wildcard, {"key": "in/a/b.csv"}) and not matches(wildcard, {"key": "in/a.txt"})
    assert unknown_operators({"a": [{"made-up": 1}, {"prefix": "x"}]}) == ["made-up"]
    items = records(BODY)
    items["Mapping"] = rec(
        "Mapping",
        "AWS::Lambda::EventSourceMapping",
        "uuid",
        {
            "FunctionName": "shop-Fn",
            "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q",
            "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": [{"made-up": 1}]}}'}]},
        },
    )
    found: list[Unsupported] = []
    build_event_sources(items, unsupported=found, file="t.yaml")
    assert [(u.logical_id, u.property) for u in found] == [
        ("Mapping", "FilterCriteria.Filters[0].Pattern")
    ]
    assert "made-up" in found[0].reason


def test_kinesis_mappings_are_polled_and_records_shaped_as_lambda_documents() -> None:
    import base64
    import datetime as dt

    from harness.runtime.pollers.kinesis_poller import kinesis_batch_info, kinesis_record

    arn = "arn:aws:kinesis:eu-west-1:000000000000:stream/s"
    items = records(BODY)
    items["Mapping"] = rec(
        "Mapping",
        "AWS::Lambda::EventSourceMapping",
        "uuid",
        {"FunctionName": "shop-Fn", "EventSourceArn": arn, "BisectBatchOnFunctionError": True},
    )
    (source,) = build_event_sources(items)
    assert (source.kind, source.batch_size, source.bisect_on_error) == ("kinesis", 100, True)
    raw = {
        "SequenceNumber": "495",
        "ApproximateArrivalTimestamp": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        "Data": b'{"a": 1}',
        "PartitionKey": "k",
    }
    record = kinesis_record(raw, "shardId-000000000000", arn, "eu-west-1")
    assert record["eventID"] == "shardId-000000000000:495"
    assert record["eventName"] == "aws:kinesis:record" and record["awsRegion"] == "eu-west-1"
    assert base64.b64decode(record["kinesis"]["data"]) == b'{"a": 1}'
    assert record["kinesis"]["approximateArrivalTimestamp"] == 1767312000.0
    info = kinesis_batch_info([record, record], "shardId-000000000000", arn)
    assert (info["batchSize"], info["startSequenceNumber"], info["streamArn"]) == (2, "495", arn)
