"""Chaos: seeded, scheduled fault injection.

- AWS faults on the wire (``rules``, ``engine``, ``aws_errors``, ``control``): rules in
  LocalStack's chaos shape, applied by the AWS edge to every call a function or the gateway makes.
- Redis faults (``redis_proxy``): a TCP proxy in front of Redis that can refuse, hang, delay,
  reset, or reboot (losing the data).
- ``client``: the Python API used by the CLI and scenarios.
"""
