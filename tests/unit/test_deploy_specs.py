"""Gateway/runtime specs built from resource records of plain CloudFormation (no SAM)."""

from __future__ import annotations

from typing import Any

from harness.deploy.specs import build_apis, build_event_sources, build_functions
from harness.model import ResourceRecord

FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:shop-Orders"


def rec(
    logical_id: str, type_: str, physical: str, props: dict[str, Any], **attrs: Any
) -> ResourceRecord:
    return ResourceRecord(
        logical_id, type_, physical, arn=attrs.pop("arn", None), attributes=attrs, properties=props
    )


def records() -> dict[str, ResourceRecord]:
    items = [
        rec(
            "Orders",
            "AWS::Lambda::Function",
            "shop-Orders",
            {
                "Handler": "app.handler",
                "Runtime": "python3.12",
                "Role": "arn:aws:iam::000000000000:role/shop-role",
                "Environment": {"Variables": {"DEBUG": True, "N": 3}},
            },
            arn=FN_ARN,
            CodeDir="/code",
        ),
        rec(
            "Role",
            "AWS::IAM::Role",
            "shop-role",
            {
                "Policies": [
                    {
                        "PolicyName": "inline",
                        "PolicyDocument": {
                            "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]
                        },
                    }
                ],
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnly"],
            },
            arn="arn:aws:iam::000000000000:role/shop-role",
        ),
        rec(
            "Extra",
            "AWS::IAM::Policy",
            "shop-Extra",
            {
                "PolicyName": "extra",
                "Roles": ["shop-role"],
                "PolicyDocument": {
                    "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]
                },
            },
        ),
        rec(
            "Api",
            "AWS::ApiGatewayV2::Api",
            "abc123",
            {"Name": "shop", "ProtocolType": "HTTP"},
            ApiEndpoint="http://gw/shop/Api",
        ),
        rec(
            "Stage",
            "AWS::ApiGatewayV2::Stage",
            "$default",
            {
                "ApiId": "abc123",
                "StageName": "$default",
                "DefaultRouteSettings": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
            },
        ),
        rec(
            "Integration",
            "AWS::ApiGatewayV2::Integration",
            "int1",
            {
                "ApiId": "abc123",
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": FN_ARN,
                "PayloadFormatVersion": "2.0",
            },
        ),
        rec(
            "SqsIntegration",
            "AWS::ApiGatewayV2::Integration",
            "int2",
            {
                "ApiId": "abc123",
                "IntegrationType": "AWS_PROXY",
                "IntegrationSubtype": "SQS-SendMessage",
                "RequestParameters": {"QueueUrl": "http://q", "MessageBody": "$request.body"},
            },
        ),
        rec(
            "Auth",
            "AWS::ApiGatewayV2::Authorizer",
            "auth1",
            {
                "ApiId": "abc123",
                "AuthorizerType": "JWT",
                "Name": "jwt",
                "IdentitySource": ["$request.header.Authorization"],
                "JwtConfiguration": {"Issuer": "https://idp", "Audience": ["client"]},
            },
        ),
        rec(
            "GetRoute",
            "AWS::ApiGatewayV2::Route",
            "r1",
            {
                "ApiId": "abc123",
                "RouteKey": "GET /orders/{id}",
                "Target": "integrations/int1",
                "AuthorizerId": "auth1",
                "AuthorizationType": "JWT",
                "AuthorizationScopes": ["orders/read"],
            },
        ),
        rec(
            "PostRoute",
            "AWS::ApiGatewayV2::Route",
            "r2",
            {"ApiId": "abc123", "RouteKey": "POST /orders", "Target": "integrations/int2"},
        ),
        rec(
            "Queue",
            "AWS::SQS::Queue",
            "http://edge/000000000000/q",
            {},
            arn="arn:aws:sqs:us-east-1:000000000000:q",
        ),
        rec(
            "Mapping",
            "AWS::Lambda::EventSourceMapping",
            "uuid",
            {
                "FunctionName": "shop-Orders",
                "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q",
                "ScalingConfig": {"MaximumConcurrency": 4},
                "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"tenant": ["a"]}}'}]},
            },
        ),
        rec(
            "Schedule",
            "AWS::Scheduler::Schedule",
            "shop-Schedule",
            {"ScheduleExpression": "cron(0 1 * * ? *)", "Target": {"Arn": FN_ARN, "Input": "{}"}},
            arn="arn:aws:scheduler:us-east-1:000000000000:schedule/default/shop-Schedule",
        ),
        rec(
            "Invoke",
            "AWS::Lambda::EventInvokeConfig",
            "cfg",
            {
                "FunctionName": "shop-Orders",
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": 0,
                "DestinationConfig": {
                    "OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:ok"}
                },
            },
        ),
    ]
    return {r.logical_id: r for r in items}


def test_http_api_from_route_resources() -> None:
    api = build_apis(records())["Api"]
    assert api.kind == "http" and api.stage == "$default" and api.base_url == "http://gw/shop/Api"
    assert api.stage_throttle is not None and api.stage_throttle.rate == 50.0
    routes = {(r.method, r.path): r for r in api.routes}
    get = routes[("GET", "/orders/{id}")]
    assert get.integration.type == "lambda" and get.integration.function == "Orders"
    assert get.authorizer == "jwt" and get.scopes == ["orders/read"]
    post = routes[("POST", "/orders")]
    assert post.integration.type == "sqs" and post.integration.subtype == "SQS-SendMessage"
    assert post.integration.parameters["QueueUrl"] == "http://q"
    jwt = api.authorizers["jwt"]
    assert jwt.issuer == "https://idp" and jwt.audience == ["client"]


def test_function_spec_collects_policies_and_invoke_config() -> None:
    fn = build_functions(records())["Orders"]
    assert fn.environment == {"DEBUG": "true", "N": "3"}
    names = [p.get("PolicyName") or p.get("ManagedPolicyArn") for p in fn.policies]
    assert names == ["inline", "arn:aws:iam::aws:policy/ReadOnly", "extra"]
    assert fn.on_success_arn == "arn:aws:sqs:us-east-1:000000000000:ok"
    assert fn.maximum_retry_attempts == 0
    assert fn.log_group == "/aws/lambda/shop-Orders"


def test_event_sources_from_mapping_and_scheduler() -> None:
    sources = {s.name: s for s in build_event_sources(records())}
    mapping = sources["Mapping"]
    assert mapping.kind == "sqs" and mapping.queue_url == "http://edge/000000000000/q"
    assert mapping.maximum_concurrency == 4
    assert mapping.filter_patterns == [{"body": {"tenant": ["a"]}}]
    schedule = sources["Schedule"]
    assert schedule.kind == "schedule" and schedule.schedule == "cron(0 1 * * ? *)"
    assert schedule.function == "Orders" and schedule.input == "{}"
