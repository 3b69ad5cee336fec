"""An alias's weighted routing (RoutingConfig.AdditionalVersionWeights) and qualified names, as
the runtime resolves them per invocation."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from harness.runtime.core import pick_version, split_qualifier


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("fn", ("fn", None)),
        ("fn:live", ("fn", "live")),
        ("fn:3", ("fn", "3")),
        ("arn:aws:lambda:us-east-1:000000000000:function:fn", ("fn", None)),
        ("arn:aws:lambda:us-east-1:000000000000:function:fn:live", ("fn", "live")),
        ("000000000000:function:fn:$LATEST", ("fn", "$LATEST")),
    ],
)
def test_split_qualifier(reference: str, expected: tuple[str, str | None]) -> None:
    assert split_qualifier(reference) == expected


@pytest.mark.parametrize("weight", [0.0, 0.05, 0.25, 0.5, 1.0])
def test_the_additional_version_gets_its_weight_within_a_binomial_bound(weight: float) -> None:
    alias = {"version": "2", "weights": {"1": weight}}
    rng = random.Random(20261207)
    runs = 10_000
    seen = Counter(pick_version(alias, rng) for _ in range(runs))
    assert set(seen) <= {"1", "2"}
    spread = math.sqrt(runs * weight * (1 - weight))
    assert abs(seen["1"] - runs * weight) <= 4.5 * spread + 1e-9, seen


def test_an_alias_without_weights_always_runs_its_version() -> None:
    rng = random.Random(1)
    assert {pick_version({"version": "4", "weights": {}}, rng) for _ in range(100)} == {"4"}
    assert pick_version({"weights": {}}, rng) == "$LATEST"


def test_qualified_references_keep_their_qualifier_for_the_runtime() -> None:
    from harness.deploy.specs.apis import _integration, _qualified
    from harness.deploy.specs.functions import FunctionIndex
    from harness.deploy.specs.functions import qualifier_of as _qualifier
    from harness.model import ResourceRecord

    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}:live/invocations"
    assert _qualified(uri) == f"{arn}:live"
    assert _qualified(uri.replace(":live", "")) is None
    spec = _integration({"type": "aws_proxy", "uri": uri}, FunctionIndex({}), rest=False)
    assert spec.function == f"{arn}:live"  # the gateway calls the alias, not $LATEST
    assert _qualifier(f"{arn}:live") == "live"
    assert _qualifier("fn:3") == "3"
    assert _qualifier(arn) is None and _qualifier("fn") is None
    fn = ResourceRecord("Fn", "AWS::Lambda::Function", "fn-1", arn.replace(":fn", ":fn-1"))
    index = FunctionIndex({"Fn": fn})
    assert index.target("Fn") == "Fn"
    assert index.target(f"{fn.arn}:live") == "fn-1:live"  # event sources call the alias
    assert index.target(f"{fn.arn}:7") == "fn-1:7"


def test_versions_of_a_node_function_and_aliases_to_unpublished_versions_are_refused() -> None:
    from harness.deploy.specs.functions import check_aliases
    from harness.errors import DeployError
    from harness.model import ResourceRecord

    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"

    def records(runtime: str, alias_version: str) -> dict[str, ResourceRecord]:
        return {
            "Fn": ResourceRecord("Fn", "AWS::Lambda::Function", "fn", arn, {}, {"Runtime": runtime}),
            "V": ResourceRecord(
                "V", "AWS::Lambda::Version", f"{arn}:1", f"{arn}:1",
                {"Version": "1", "FunctionArn": arn}, {"FunctionName": "fn"},
            ),
            "A": ResourceRecord(
                "A", "AWS::Lambda::Alias", f"{arn}:live", f"{arn}:live", {"FunctionArn": arn},
                {"FunctionName": "fn", "Name": "live", "FunctionVersion": alias_version},
            ),
        }  # fmt: skip

    check_aliases(records("python3.11", "1"), "t.yaml")  # published: accepted
    with pytest.raises(DeployError, match=r"routes to version 2 of Fn.*published: 1"):
        check_aliases(records("python3.11", "2"), "t.yaml")
    with pytest.raises(DeployError, match="not snapshotted") as info:
        check_aliases(records("nodejs20.x", "1"), "t.yaml")
    assert info.value.logical_id == "Fn"
