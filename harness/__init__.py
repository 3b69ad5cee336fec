"""harness: run a multi-tenant serverless SaaS system on one machine, then load it, break it and
check that no tenant can reach another tenant's data.

The public surface is listed in ``__all__``; everything else is private. Load generation (Locust)
is never imported from here, because Locust patches the process with gevent on import.
"""

from __future__ import annotations

import logging

from harness.config import Settings
from harness.env.environment import ComponentHealth, Environment
from harness.errors import (
    BackendError,
    ConfigError,
    EnvironmentError_,
    HarnessError,
    NotRunningError,
    PortInUseError,
    SetupError,
    StartError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ComponentHealth",
    "ConfigError",
    "Environment",
    "EnvironmentError_",
    "HarnessError",
    "NotRunningError",
    "PortInUseError",
    "Settings",
    "SetupError",
    "StartError",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
