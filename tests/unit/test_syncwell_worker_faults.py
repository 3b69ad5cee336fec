"""SyncWell's hot-path worker under dependency failures (found by scenarios/chaos/), in-process.

* an AWS dependency that is down or throttling (DynamoDB, Secrets Manager, SQS answering 5xx,
  or unreachable) defers the job: it comes back in seconds and never counts toward the DLQ;
* any other failure is retried with a short backoff (not after the queue's 180 s visibility
  timeout) and reaches the DLQ after maxReceiveCount;
* the deliberately broken worker (``SYNCWELL_BROKEN=drop-on-secrets-error``) deletes the
  message of a job whose token it could not read (the job is lost: what the chaos catalog must
  catch), and only when asked to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import worker  # noqa: E402


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetItem",
    )


def test_dependency_outages_are_told_apart_from_bugs_and_bad_requests() -> None:
    assert worker.dependency_unavailable(_client_error("ServiceUnavailable", 503))
    assert worker.dependency_unavailable(_client_error("ThrottlingException", 400))
    assert worker.dependency_unavailable(_client_error("InternalServerError", 500))
    assert worker.dependency_unavailable(EndpointConnectionError(endpoint_url="http://x"))
    assert not worker.dependency_unavailable(_client_error("ValidationException", 400))
    assert not worker.dependency_unavailable(KeyError("bug"))


def _event(received: int = 1, deferrals: int = 0) -> dict[str, Any]:
    body = {"userId": "u1", "jobId": "job_1", "destinationConnectionId": "c2",
            "sourceConnectionId": "c1", "dataType": "workout", "deferrals": deferrals}  # fmt: skip
    return {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "r1",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(received)},
            }
        ]
    }


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    monkeypatch.setattr(worker, "Context", lambda: object())
    monkeypatch.setattr(worker, "_finish", lambda ctx, outcomes, bodies: None)
    monkeypatch.setattr(
        worker, "change_visibility", lambda record, seconds: seen.append(("visibility", seconds))
    )
    monkeypatch.setattr(
        worker, "_requeue", lambda record, body, delay: seen.append(("requeue", delay))
    )
    monkeypatch.setattr(worker, "_record_failure", lambda *a: seen.append(("failure", a[2])))
    monkeypatch.setenv("BACKOFF_BASE_S", "2")
    return seen


def _raising(exc: BaseException) -> Any:
    def process(ctx: Any, record: Any, body: Any) -> Any:
        raise exc

    return process


def test_a_dependency_outage_defers_the_job_in_seconds(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    monkeypatch.setattr(worker, "process", _raising(_client_error("ServiceUnavailable", 503)))
    answer = worker.handler(_event(received=1))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert [c[0] for c in calls] == ["visibility"] and calls[0][1] <= 2
    # from the third receive it is re-sent as a fresh message: an outage never fills the DLQ
    calls.clear()
    assert worker.handler(_event(received=3)) == {"batchItemFailures": []}
    assert [c[0] for c in calls] == ["requeue"]


@pytest.mark.parametrize(
    "error",
    [
        worker.Defer("rate limited (strava)", 1.0),
        worker.RateLimited("429", 2.0),
        _client_error("ProvisionedThroughputExceededException", 400),
    ],
    ids=["bucket-empty", "provider-429", "dynamodb-throttled"],
)
def test_a_job_deferred_past_its_budget_fails_toward_the_dlq(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]], error: BaseException
) -> None:
    monkeypatch.setenv("MAX_DEFERRALS", "3")
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "5")
    monkeypatch.setattr(worker, "process", _raising(error))
    # within the budget: re-sent fresh from the third receive (never the DLQ)
    assert worker.handler(_event(received=3, deferrals=2)) == {"batchItemFailures": []}
    assert [c[0] for c in calls] == ["requeue"]
    # budget spent (3 re-sends): no more re-sends; the failure is recorded and the message
    # stays, so SQS's redrive takes it to the DLQ after maxReceiveCount receives
    for received in (1, 3, 5):
        calls.clear()
        answer = worker.handler(_event(received=received, deferrals=3))
        assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
        assert [c[0] for c in calls] == ["failure", "visibility"]
        assert calls[0][1] == received  # _record_failure marks FAILED at the last receive


def test_the_deferral_budget_is_read_from_max_deferrals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_DEFERRALS", raising=False)
    assert not worker.deferral_exhausted({"deferrals": 9})
    assert worker.deferral_exhausted({"deferrals": 10})  # default 10
    monkeypatch.setenv("MAX_DEFERRALS", "0")
    assert worker.deferral_exhausted({})  # 0: a deferral is a failure at once
    assert "2 re-sends" in worker.exhausted_reason({"deferrals": 2}, "provider 429")


def test_a_historical_chunk_deferred_past_its_budget_is_closed_failed(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    from syncwell import historical

    closed: list[tuple[str, str]] = []
    monkeypatch.setenv("MAX_DEFERRALS", "2")
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "5")
    monkeypatch.setattr(
        historical,
        "process_chunk",
        lambda ctx, body: (_ for _ in ()).throw(worker.RateLimited("429", 1)),
    )
    monkeypatch.setattr(
        historical,
        "_close_chunk",
        lambda table, body, status, reason="": closed.append((status, reason)),
    )

    def chunk_event(received: int, deferrals: int) -> dict[str, Any]:
        body = {"userId": "u1", "jobId": "job_h", "chunk": 0, "deferrals": deferrals}
        return {"Records": [{"messageId": "c1", "receiptHandle": "r", "body": json.dumps(body),
                             "attributes": {"ApproximateReceiveCount": str(received)}}]}  # fmt: skip

    monkeypatch.setattr(worker, "Context", lambda: type("Ctx", (), {"table": None})())
    assert historical.chunk_handler(chunk_event(3, 1)) == {"batchItemFailures": []}
    assert [c[0] for c in calls] == ["requeue"] and not closed
    calls.clear()
    assert historical.chunk_handler(chunk_event(2, 2)) == {
        "batchItemFailures": [{"itemIdentifier": "c1"}]
    }
    assert [c[0] for c in calls] == ["visibility"] and not closed
    assert historical.chunk_handler(chunk_event(5, 2)) == {"batchItemFailures": []}
    assert closed and closed[0][0] == "FAILED" and "deferral budget spent" in closed[0][1]


def test_an_unreachable_provider_defers_the_job_but_a_provider_5xx_fails_it(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    """scenarios/chaos/dns-failure.yaml put a job in the DLQ: an unresolvable provider was a
    failure, and five quick receives (full-jitter backoff from 2 s) fit in a 12 s outage. By
    seed 001 (3a: the DLQ is for non-transient errors; 3b: a DNS failure is a dependency
    failure to degrade through), not reaching the provider defers the job."""
    from syncwell.providers import ProviderUnreachable, TransientError

    monkeypatch.setattr(
        worker, "process", _raising(ProviderUnreachable("strava: unreachable: gaierror"))
    )
    for received in (1, 2, 4, 5):
        calls.clear()
        worker.handler(_event(received=received))
        assert "failure" not in [c[0] for c in calls]
    monkeypatch.setattr(worker, "process", _raising(TransientError("strava: 503", 503)))
    calls.clear()
    worker.handler(_event(received=5))
    assert [c[0] for c in calls] == ["failure", "visibility"]


def test_the_provider_client_tells_unreachable_from_an_error_answer() -> None:
    import socket

    from syncwell.providers import ProviderClient, ProviderUnreachable

    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderUnreachable):
        ProviderClient("strava", base_url=f"http://127.0.0.1:{port}", timeout_s=2)._request(
            "GET", "/x"
        )


def test_a_requeue_that_fails_keeps_the_message(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    def no_sqs(record: Any, body: Any, delay: int) -> None:
        raise _client_error("ServiceUnavailable", 503)

    monkeypatch.setattr(worker, "_requeue", no_sqs)
    monkeypatch.setattr(worker, "process", _raising(_client_error("ServiceUnavailable", 503)))
    assert worker.handler(_event(received=4)) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert [c[0] for c in calls] == ["visibility"]


def test_other_failures_retry_soon_and_count_toward_the_dlq(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    monkeypatch.setattr(worker, "process", _raising(KeyError("a bug")))
    assert worker.handler(_event(received=2)) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert [c[0] for c in calls] == ["visibility"] and calls[0][1] <= 4


def test_the_broken_worker_drops_a_job_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]
) -> None:
    def secrets_down(pointer: str) -> Any:
        raise _client_error("ServiceUnavailable", 503)

    monkeypatch.setattr(worker, "credentials", secrets_down)
    conn = {"CredentialArn": "arn:secret", "provider": "strava"}

    def process(ctx: Any, record: Any, body: Any) -> Any:
        worker._token_for(ctx, "u1", "c1", conn)
        raise AssertionError("unreachable")

    monkeypatch.setattr(worker, "process", process)
    monkeypatch.delenv("SYNCWELL_BROKEN", raising=False)
    assert worker.handler(_event()) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    calls.clear()
    monkeypatch.setenv("SYNCWELL_BROKEN", "drop-on-secrets-error")
    assert worker.handler(_event()) == {"batchItemFailures": []}  # deleted: the job is lost
    assert calls == []


class _FakeTable:
    """Just enough of syncwell.store.Table for the API's accept path."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, item: dict[str, Any], condition: str | None = None, **kw: Any) -> None:
        key = (item["PK"], item["SK"])
        if condition == "attribute_not_exists(PK)" and key in self.items:
            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "x"}}, "PutItem"
            )
        self.items[key] = dict(item)

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        return self.items.get((pk, sk))

    def update(self, pk: str, sk: str, expression: str, **kw: Any) -> dict[str, Any]:
        item = self.items[(pk, sk)]
        values = kw.get("values") or {}
        if "enqueued" in expression:
            item["enqueued"] = values[":t"]
        elif ":r" in values:
            item["status"] = values[":r"]
        elif ":q" in values:
            item["status"] = values[":q"]
        return item


def test_a_job_recorded_but_never_queued_is_queued_by_the_clients_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by scenarios/chaos/dynamodb-unavailable.yaml: an API invocation that timed out
    between recording a job and sending its message left a QUEUED job no worker would ever see,
    and the client's retry with the same key was answered 202 without queueing it."""
    from syncwell import api

    sent: list[str] = []
    table = _FakeTable()
    req = type("Req", (), {"user_id": "u1"})()
    item = {"PK": "USER#u1", "SK": "JOB#job_1", "requestHash": "h", "status": "QUEUED"}

    def dies(message: dict[str, Any], user_id: str) -> None:
        raise TimeoutError("the invocation ran out of time")

    monkeypatch.setattr(api, "_send_job", dies)
    with pytest.raises(TimeoutError):
        api._accept_job(req, table, "job_1", item, {"jobId": "job_1"})  # type: ignore[arg-type]
    # a timeout before the send completes leaves the record unacknowledged (or REJECTED)
    assert table.items[("USER#u1", "JOB#job_1")]["status"] == "REJECTED"
    table.items[("USER#u1", "JOB#job_1")].update(status="QUEUED", enqueued=False)  # killed

    monkeypatch.setattr(api, "_send_job", lambda message, user_id: sent.append(message["jobId"]))
    answer = api._accept_job(req, table, "job_1", item, {"jobId": "job_1"})  # type: ignore[arg-type]
    assert answer["statusCode"] == 202 and sent == ["job_1"]
    assert table.items[("USER#u1", "JOB#job_1")]["enqueued"] is True
    # once queued, a retry is answered from the record and queues nothing more
    api._accept_job(req, table, "job_1", item, {"jobId": "job_1"})  # type: ignore[arg-type]
    assert sent == ["job_1"]
