"""The ``tenancy`` section's model lives in :mod:`harness.profile` (:class:`Tenancy`, read
from a deployed stack's profile with ``Tenancy.from_profile``); this name stays for the
importers not moved yet (``harness/isolation/run.py``)."""

from __future__ import annotations

from harness.profile import Tenancy

__all__ = ["Tenancy"]
