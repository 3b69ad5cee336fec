"""Tracing a data-layer finding to the calls that wrote it, and re-checking it, without processes."""

from __future__ import annotations

from harness.isolation.datalayer import Snapshot, data_findings
from harness.isolation.datareplay import candidates_for, check_replayed_data, rule_only
from harness.isolation.http import Call
from harness.isolation.spec import DataRules, IsolationSpec

SPEC = IsolationSpec.model_validate(
    {
        "resources": {
            "note": {
                "create": {"method": "POST", "path": "/notes", "id": "$.note_id"},
                "read": {"path": "/notes/{id}"},
            }
        },
        "data": {
            "dynamodb": [{"table": "T", "key": "PK", "pattern": "TENANT#{tenant}"}],
            "redis": [{"pattern": "notes:*", "must_contain": ":{tenant}:"}],
        },
    }
)


def call(step: str, method: str, path: str, tenant: str, response: object = None) -> Call:
    return Call(
        step, method, path, tenant, "u", status=201 if method == "POST" else 200, response=response
    )


RUN = [
    call("create note", "POST", "/notes", "t2", {"note_id": "n0"}),
    call("create note claiming body:tenant_id=t10", "POST", "/notes", "t1", {"note_id": "n1"}),
    call("list note", "GET", "/notes", "t2"),
    call("owner reads note", "GET", "/notes/n1", "t1"),
    call("read note of another", "GET", "/notes/n0", "t10"),
]


def test_a_record_is_traced_to_the_create_that_handed_out_its_id_and_later_uses() -> None:
    before = Snapshot({"dynamodb T.PK": set()})
    after = Snapshot({"dynamodb T.PK": {("TENANT#t10", '{"note_id": "n1", "PK": "TENANT#t10"}')}})
    _, findings, _ = data_findings(
        SPEC.data, before, after, ["t1", "t10", "t2"], {"n1": "t1", "n0": "t2"}
    )
    (finding,) = findings
    assert finding.ids == ("n1",) and "created by t1 inside the partition of t10" in finding.message
    traced = candidates_for(finding, RUN, SPEC)
    assert [c.step for c in traced] == [
        "create note claiming body:tenant_id=t10",
        "owner reads note",
    ]


def test_a_record_of_no_created_resource_has_no_candidates() -> None:
    before = Snapshot({"redis notes:*": set()})
    after = Snapshot({"redis notes:*": {("notes:zzz", "")}})
    _, findings, _ = data_findings(SPEC.data, before, after, ["t1"], {"n1": "t1"})
    assert findings and findings[0].ids == ()
    assert candidates_for(findings[0], RUN, SPEC) == []


class Reader:
    """A DataReader over a dict that a test changes between snapshots."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def dynamodb(self, table: str, key: str) -> list[tuple[str, str]]:
        return list(self.items)

    def s3(self, bucket: str) -> list[tuple[str, str]]:
        raise AssertionError("only the rule under test is read")

    def sqs(self, queue: str, field: str) -> list[tuple[str, str]]:
        raise AssertionError("only the rule under test is read")

    def redis(self, pattern: str) -> list[tuple[str, str]]:
        raise AssertionError("only the rule under test is read")


def test_a_re_check_reads_only_its_rule_and_sees_new_bad_records() -> None:
    from harness.isolation.datalayer import snapshot

    reader = Reader()
    only = rule_only(SPEC.data, "dynamodb T.PK")
    assert isinstance(only, DataRules) and not only.redis
    before = snapshot(reader, only)
    reader.items.append(("TENANT#t10", '{"note_id": "m1"}'))
    found = check_replayed_data(
        SPEC.data, "dynamodb T.PK", reader, before, ["t1", "t10"], {"m1": "t1"}, poll_s=0
    )
    assert found and found[0].key == "TENANT#t10"
    # a correct write (the creator's own partition) is not a finding
    reader.items[-1] = ("TENANT#t1", '{"note_id": "m1"}')
    assert (
        check_replayed_data(
            SPEC.data, "dynamodb T.PK", reader, before, ["t1", "t10"], {"m1": "t1"}, poll_s=0
        )
        == []
    )


def test_the_minimizer_keeps_the_creates_a_needed_listing_is_made_of() -> None:
    from harness.isolation.replay import _feeds_listing

    calls = [
        {"step": "create note", "tenant": "t1", "user": "u"},
        {"step": "create note", "tenant": "t2", "user": "u"},
        {"step": "list note (first page, for its token)", "tenant": "t2", "user": "u"},
        {"step": "list note with a tampered token", "tenant": "t1", "user": "u", "derive": {}},
    ]
    check = {"call_index": 3, "mode": "listed"}
    assert _feeds_listing(calls[1], calls, check)  # the token holder's own record
    assert _feeds_listing(calls[0], calls, check)  # the lister's own record
    assert not _feeds_listing(calls[2], calls, check)  # not a create
    other = {"step": "create note", "tenant": "t3", "user": "u"}
    assert not _feeds_listing(other, calls, check)
    assert not _feeds_listing(calls[0], calls[:3], {"call_index": 2, "mode": "not-denied"})
