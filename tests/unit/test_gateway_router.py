"""Route selection: the most specific route wins, as API Gateway documents it."""

from __future__ import annotations

import pytest

from harness.gateway.router import CompiledRoute, Router, compile_path


def router(*keys: str) -> Router:
    routes = []
    for key in keys:
        if key == "$default":
            routes.append(CompiledRoute("ANY", "$default", "$default"))
        else:
            method, path = key.split(" ", 1)
            routes.append(CompiledRoute(method, path, key))
    return Router(routes)


AWS_EXAMPLE = router(
    "GET /pets/dog/1",
    "GET /pets/dog/{id}",
    "GET /pets/{proxy+}",
    "ANY /{proxy+}",
    "$default",
)


@pytest.mark.parametrize(
    ("method", "path", "expected", "params"),
    [
        ("GET", "/pets/dog/1", "GET /pets/dog/1", {}),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("POST", "/pets/dog/1", "ANY /{proxy+}", {"proxy": "pets/dog/1"}),
        ("GET", "/", "$default", {}),
    ],
)
def test_aws_documented_precedence(method, path, expected, params) -> None:
    route, found = AWS_EXAMPLE.match(method, path)
    assert route is not None and route.route_key == expected
    assert found == params


def test_literal_beats_variable_beats_greedy_segment_by_segment() -> None:
    r = router("GET /a/{x}/c", "GET /a/b/{y}", "GET /a/{proxy+}")
    assert r.match("GET", "/a/b/c")[0].route_key == "GET /a/b/{y}"
    assert r.match("GET", "/a/z/c")[0].route_key == "GET /a/{x}/c"
    assert r.match("GET", "/a/z/d")[0].route_key == "GET /a/{proxy+}"


def test_exact_method_beats_any_for_the_same_path() -> None:
    r = router("ANY /items/{id}", "GET /items/{id}", "ANY /items", "DELETE /items")
    assert r.match("GET", "/items/1")[0].route_key == "GET /items/{id}"
    assert r.match("PUT", "/items/1")[0].route_key == "ANY /items/{id}"
    assert r.match("DELETE", "/items")[0].route_key == "DELETE /items"
    assert r.match("GET", "/items")[0].route_key == "ANY /items"


def test_no_match_without_default() -> None:
    r = router("GET /a")
    assert r.match("GET", "/b") == (None, {})
    assert r.match("POST", "/a") == (None, {})


def test_trailing_slash_and_multiple_params() -> None:
    r = router("GET /t/{tenant}/orders/{order}")
    route, params = r.match("GET", "/t/acme/orders/42/")
    assert route is not None and params == {"tenant": "acme", "order": "42"}


def test_greedy_needs_at_least_one_segment() -> None:
    r = router("GET /files/{proxy+}")
    assert r.match("GET", "/files")[0] is None
    assert r.match("GET", "/files/a")[1] == {"proxy": "a"}


def test_greedy_must_be_last() -> None:
    with pytest.raises(ValueError):
        compile_path("/a/{proxy+}/b")


def test_literal_segments_are_not_regexes() -> None:
    r = router("GET /a.b")
    assert r.match("GET", "/a.b")[0] is not None
    assert r.match("GET", "/axb")[0] is None
