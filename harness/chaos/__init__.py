"""Chaos: seeded, scheduled fault injection.

- AWS faults on the wire (``rules``, ``engine``, ``aws_errors``, ``control``): rules in
  LocalStack's chaos shape, applied by the AWS edge to every call a function or the gateway makes.
- Redis faults (``redis_proxy``): a TCP proxy in front of Redis that can refuse, hang, delay,
  reset, or reboot (losing the data).
- Lambda faults (``lambda_faults``), applied by the runtime per invocation: FIS parameters and
  failure-lambda modes, throttling, cold-start storms; "AZ failure" (``capacity``) and DNS
  failure (a denylist).
- Third-party faults (``thirdparty``) on a stack's fake provider servers.
- ``Faults`` (``faults``): one Python API over every kind; ``fault_records`` reads the log.
  ``client.FaultClient`` is the edge/Redis client it builds on.
"""

from harness.chaos.faults import FAULT_KINDS, Faults, fault_records

__all__ = ["FAULT_KINDS", "Faults", "fault_records"]
