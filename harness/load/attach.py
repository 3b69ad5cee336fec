"""A Locust worker joined to the harness's master: the harness's custom messages on Locust's
:class:`~locust.runners.WorkerRunner` (split from :mod:`harness.load.worker`, which runs the
generator they drive). Imported only in a worker process (``harness.load.worker``'s ``main``,
the harness's locustfile), after Locust has monkey-patched it.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
import traceback
from typing import Any

from harness.load.worker import MASTER_SILENCE, Generator

__all__ = ["Attachment", "attach"]

logger = logging.getLogger(__name__)


class Attachment:
    """The harness's messages on a Locust :class:`~locust.runners.WorkerRunner`.

    It says ``harness_hello`` once its handlers are registered (the master only uses workers
    that did). ``harness_spec`` (the pickled :class:`~harness.load.spec.WorkerSpec`: this worker's index and
    share) builds the generator and answers ``harness_ready``; ``harness_go`` starts it at an
    epoch instant; ``harness_adopt`` hands it part of a lost worker's share; ``harness_stop`` ends
    the run early. The worker streams ``harness_sec`` every second and ``harness_done`` at the
    end (plain data, :mod:`harness.load.wire`); a failure is sent as ``harness_error``.
    """

    def __init__(self, environment: Any, *, parent_pid: int | None = None) -> None:
        import gevent

        self.gevent = gevent
        self.environment = environment
        self.runner = environment.runner
        self.generator: Generator | None = None
        self.index = -1
        self.parent_pid = parent_pid
        runner = self.runner
        runner.register_message("harness_spec", self.on_spec)
        runner.register_message("harness_go", self.on_go)
        runner.register_message("harness_stop", self.on_stop)
        runner.register_message("harness_adopt", self.on_adopt)
        gevent.spawn(self.watchdog)
        # connected before these handlers existed: say that they do now
        runner.send_message("harness_hello", {"pid": os.getpid()})

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.runner.send_message(kind, {"i": self.index, **data})

    def on_spec(self, environment: Any, msg: Any) -> None:
        try:
            spec = pickle.loads(msg.data["spec"])  # a worker runs what its master sends
            self.index = spec.index
            self.generator = Generator(spec, send=self.send)
        except Exception:
            self.send("harness_error", {"error": traceback.format_exc()})
            return
        self.send("harness_ready", {"pid": os.getpid(), "host": socket.gethostname()})

    def on_go(self, environment: Any, msg: Any) -> None:
        if self.generator is not None:
            self.gevent.spawn(self._run, self.generator, float(msg.data["start"]))

    def _run(self, generator: Generator, start: float) -> None:
        try:
            generator.run(start)
        except Exception:
            self.send("harness_error", {"error": traceback.format_exc()})

    def on_stop(self, environment: Any, msg: Any) -> None:
        if self.generator is not None:
            self.generator.stop()

    def on_adopt(self, environment: Any, msg: Any) -> None:
        if self.generator is not None:
            d = msg.data
            self.generator.adopt(int(d["index"]), float(d["since"]), int(d["rank"]), int(d["of"]))

    def watchdog(self) -> None:
        """Stop loading when the master (or, for a local worker, the engine) is gone."""
        while True:
            self.gevent.sleep(1)
            gone = self.parent_pid is not None and os.getppid() != self.parent_pid
            heard = getattr(self.runner, "last_heartbeat_timestamp", None)
            if heard is not None and time.time() - heard > MASTER_SILENCE:
                gone = True
            if gone:
                logger.warning("the master is gone: stopping this worker")
                if self.generator is not None:
                    self.generator.stop()
                self.runner.quit()
                return


def attach(environment: Any, *, parent_pid: int | None = None) -> Attachment:
    """Make a Locust worker (``locust --worker`` with the harness's locustfile, or
    ``harness load-worker``) answer the harness's master."""
    return Attachment(environment, parent_pid=parent_pid)
