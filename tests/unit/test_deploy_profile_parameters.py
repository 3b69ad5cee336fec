from pathlib import Path

import pytest

from harness.deploy.engine import _profile_parameters
from harness.deploy.template import StackSource
from harness.errors import DeployError


def source(tmp_path: Path, parameters: dict[str, str]) -> StackSource:
    return StackSource(
        name="s",
        stack_dir=tmp_path,
        template_path=tmp_path / "template.yaml",
        text="",
        template={},
        profile={"parameters": parameters},
    )


def test_endpoints_are_filled_in(tmp_path: Path) -> None:
    endpoints = {"redis_proxy_url": "redis://127.0.0.1:1/0", "gateway_url": "http://127.0.0.1:2"}
    got = _profile_parameters(
        source(
            tmp_path,
            {
                "RedisUrl": "${redis_proxy_url}",
                "IssuerUrl": "${gateway_url}/_harness/issuer",
                "Stage": "dev",
            },
        ),
        endpoints,
    )
    assert got == {
        "RedisUrl": "redis://127.0.0.1:1/0",
        "IssuerUrl": "http://127.0.0.1:2/_harness/issuer",
        "Stage": "dev",
    }


def test_unknown_endpoint_names_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"RedisUrl.*redis_url_typo"):
        _profile_parameters(source(tmp_path, {"RedisUrl": "${redis_url_typo}"}), {"redis_url": "x"})
