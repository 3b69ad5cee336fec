"""Fakes of SyncWell's third parties (run as processes beside the stack)."""
