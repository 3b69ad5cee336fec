"""``harness deploy``: a SAM/CloudFormation stack folder onto the local environment.

Public surface: :func:`deploy_stack`, :func:`destroy_stack`, :func:`plan_stack` (every check, no
backend), :class:`DeployError` and the :func:`deployed_stack` fixture factory.
"""

from __future__ import annotations

from harness.deploy.engine import deploy_stack, destroy_stack, plan_stack
from harness.deploy.fixtures import deployed_stack
from harness.errors import DeployError

__all__ = ["DeployError", "deploy_stack", "deployed_stack", "destroy_stack", "plan_stack"]
