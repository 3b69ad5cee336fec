"""The AWS environment functions and fake servers get (harness/aws.py)."""

from __future__ import annotations

from harness.aws import TEST_CREDENTIALS, aws_environ


def test_children_use_the_edge_with_the_harness_key_and_no_session_token() -> None:
    env = aws_environ({"aws_endpoint": "http://127.0.0.1:4566", "region": "eu-west-1"})
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"] == TEST_CREDENTIALS["aws_access_key_id"]
    # a made-up token would ride in pre-signed S3 URLs, which the emulator refuses (InvalidToken)
    assert "AWS_SESSION_TOKEN" not in env
