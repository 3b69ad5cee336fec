"""Remote targets: a scenario against a stack deployed in an AWS account (read through the AWS
APIs only), its faults as AWS FIS experiment templates (:mod:`harness.remote.fis`)."""

from __future__ import annotations

__all__: list[str] = []
