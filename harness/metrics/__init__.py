"""CloudWatch metrics and alarms, locally.

* :mod:`~harness.metrics.recorder` — ``put()`` on the hot paths of the gateway, the runtime and
  the AWS edge; one-second buckets written as JSON lines per process.
* :mod:`~harness.metrics.store` — merges those files and answers statistics per period.
* :mod:`~harness.metrics.emf` — custom metrics from Embedded Metric Format log lines.
* :mod:`~harness.metrics.alarms`, :mod:`~harness.metrics.composite` — alarm definitions and
  CloudWatch's evaluation rules; :mod:`~harness.metrics.monitor` — live states and history.
"""

from harness.metrics.alarms import AlarmDefinitionError, Evaluation, MetricAlarm, evaluate
from harness.metrics.composite import CompositeAlarm, RuleError, parse_rule
from harness.metrics.monitor import AlarmMonitor, Transition
from harness.metrics.recorder import configure, key, put
from harness.metrics.store import MetricStore, series_key

__all__ = [
    "AlarmDefinitionError",
    "AlarmMonitor",
    "CompositeAlarm",
    "Evaluation",
    "MetricAlarm",
    "MetricStore",
    "RuleError",
    "Transition",
    "configure",
    "evaluate",
    "key",
    "parse_rule",
    "put",
    "series_key",
]
