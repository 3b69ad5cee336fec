import pytest

from harness.edge.routing import classify


def _auth(service: str, region: str = "eu-west-1") -> dict[str, str]:
    return {
        "authorization": (
            "AWS4-HMAC-SHA256 Credential=test/20261122/"
            f"{region}/{service}/aws4_request, SignedHeaders=host, Signature=abc"
        )
    }


@pytest.mark.parametrize(
    "service", ["dynamodb", "sqs", "s3", "secretsmanager", "cognito-idp", "lambda"]
)
def test_service_and_region_come_from_the_sigv4_scope(service: str) -> None:
    info = classify("POST", "/", _auth(service), b"")
    assert (info.service, info.region) == (service, "eu-west-1")


def test_json_protocol_operation_comes_from_x_amz_target() -> None:
    headers = {**_auth("dynamodb"), "x-amz-target": "DynamoDB_20120810.PutItem"}
    assert classify("POST", "/", headers, b"{}").operation == "PutItem"


def test_unsigned_cognito_call_is_recognised_by_its_target() -> None:
    headers = {"x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth"}
    info = classify("POST", "/", headers, b"{}")
    assert (info.service, info.operation) == ("cognito-idp", "InitiateAuth")


def test_query_protocol_action_in_the_body() -> None:
    headers = {**_auth("sns"), "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    info = classify("POST", "/", headers, b"Action=Publish&TopicArn=arn&Message=hi")
    assert info.operation == "Publish"


def test_presigned_s3_url_is_routed_by_its_query_credential() -> None:
    target = "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20261122%2Fus-east-1%2Fs3%2Faws4_request"
    info = classify("GET", target, {}, b"")
    assert (info.service, info.operation) == ("s3", "GetObject")


def test_jwks_download_goes_to_cognito() -> None:
    assert classify("GET", "/us-east-1_abc/.well-known/jwks.json", {}, b"").service == "cognito-idp"


@pytest.mark.parametrize(
    ("method", "target", "operation"),
    [
        ("PUT", "/b/k", "PutObject"),
        ("PUT", "/b", "CreateBucket"),
        ("GET", "/b", "ListObjectsV2"),
        ("HEAD", "/b/k", "HeadObject"),
        ("POST", "/b?delete", "DeleteObjects"),
        ("PUT", "/b/k?partNumber=1&uploadId=x", "UploadPart"),
    ],
)
def test_s3_operations_from_method_and_path(method: str, target: str, operation: str) -> None:
    assert classify(method, target, _auth("s3"), b"").operation == operation


def test_unknown_request_is_marked_unknown() -> None:
    assert classify("GET", "/", {}, b"").service == "unknown"
