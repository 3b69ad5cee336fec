"""The AWS metrics the harness records, by namespace, and their dimension sets.

An alarm on an ``AWS/...`` metric outside this table would never see a datapoint ("OK
forever", or INSUFFICIENT_DATA forever): it is refused at deploy with the file, the logical
id and the field. Custom namespaces are accepted (functions publish them with EMF).
"""

from __future__ import annotations

__all__ = ["PRODUCED", "check_metric"]

PRODUCED: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "AWS/ApiGateway": {
        # REST APIs: ApiName; HTTP APIs: ApiId (their 4xx/5xx are lower case).
        **{
            m: (("ApiName",), ("ApiName", "Stage"), ("ApiName", "Method", "Resource", "Stage"))
            for m in ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")
        },
        **{
            m: (("ApiId",), ("ApiId", "Stage"), ("ApiId", "Route", "Stage"))
            for m in ("Count", "4xx", "5xx", "Latency", "IntegrationLatency")
        },
    },
    "AWS/Lambda": {
        m: ((), ("FunctionName",), ("FunctionName", "Resource"))
        for m in (
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "ProvisionedConcurrencySpilloverInvocations",
            "IteratorAge",  # stream event source mappings (DynamoDB streams, Kinesis)
        )
    },
    # recorded by the runtime's Kinesis event source mapping for its stream
    "AWS/Kinesis": {"GetRecords.IteratorAgeMilliseconds": (("StreamName",),)},
    "AWS/SQS": {
        m: (("QueueName",),)
        for m in (
            "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
            "NumberOfMessagesDeleted",
            "ApproximateNumberOfMessagesVisible",  # sampled once a second by the edge
            "ApproximateAgeOfOldestMessage",  # the edge peeks at the queue once a second
        )
    },
    "AWS/DynamoDB": {
        "ThrottledRequests": (("Operation", "TableName"),),
        "SuccessfulRequestLatency": (("Operation", "TableName"),),
        "SystemErrors": (("Operation", "TableName"),),
        "UserErrors": ((),),
    },
    "AWS/SNS": {"NumberOfMessagesPublished": (("TopicName",),)},
    "AWS/Events": {
        "PutEventsApproximateCallCount": ((), ("EventBusName",)),
        "PutEventsApproximateFailedCount": ((), ("EventBusName",)),
    },
    "AWS/States": {
        "ExecutionsStarted": (("StateMachineArn",),),
    },
}


def check_metric(namespace: str, name: str, dimensions: list[str]) -> str | None:
    """Why the harness would never produce this metric, or None when it does."""
    if not namespace.startswith("AWS/"):
        return None
    metrics = PRODUCED.get(namespace)
    if metrics is None:
        return (
            f"the harness records no {namespace} metrics (it records "
            f"{', '.join(sorted(PRODUCED))}, and custom namespaces from EMF)"
        )
    sets = metrics.get(name)
    if sets is None:
        return f"the harness records no {namespace} metric {name} (it records {', '.join(sorted(metrics))})"
    if tuple(sorted(dimensions)) not in {tuple(sorted(s)) for s in sets}:
        shown = " | ".join("{" + ", ".join(s) + "}" if s else "{}" for s in sets)
        return (
            f"{namespace} {name} is recorded with the dimensions {shown}, not "
            f"{{{', '.join(sorted(dimensions))}}}: CloudWatch matches dimensions exactly"
        )
    return None
