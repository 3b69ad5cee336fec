"""SyncWell backend handlers (seed 001): API, hot-path worker, coalescer, scheduler, exporter."""
