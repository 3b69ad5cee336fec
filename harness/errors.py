"""Exceptions raised by the harness.

Every error the harness raises on purpose derives from :class:`HarnessError`, carries enough
context to act on (which file, which field, which component) and says how to fix it::

    HarnessError
    ├── ConfigError          bad option, environment variable or input file (exit code 2)
    │   └── UnsupportedFaultError   a scenario fault with no AWS FIS equivalent
    │                               (harness.remote.fis)
    ├── SetupError           a required program or package is missing (run `harness setup`)
    ├── EnvironmentError_    the running environment: start, health, state file
    │   ├── PortInUseError   a requested port is taken by another process
    │   ├── StartError       a component died or did not become healthy while starting
    │   └── NotRunningError  a command needs `harness up` first
    ├── BackendError         the chosen backend cannot be used here (e.g. no Docker)
    ├── DeployError          a template that cannot be deployed as written, or a backend call
    │                        that failed during a deploy: file, resource, property, backend
    ├── TokenError           no token could be had: a token endpoint, a Cognito sign-in, a
    │                        token command or file (harness.auth)
    ├── LoadGeneratorError   the load generator's master or a worker failed (harness.load)
    ├── HttpClientError      one of the harness's own HTTP calls got no usable answer
    │   │                    (harness.httpclient; also an OSError)
    │   ├── HttpStatusError  the server answered 4xx/5xx: method, URL, status, its message
    │   └── NoAnswerError    refused, reset or timed out: the URL and the fix
    └── RemoteTargetError    a remote (AWS) stack could not be read, or lacks what the
                             scenario needs (harness.remote.target)

User input is refused with a ``ConfigError`` (never a bare ``ValueError``): pydantic
validation errors become one with file, line and field through
:func:`harness.yamlpos.validation_error` (or :func:`~harness.yamlpos.validation_problems`
where a caller words the message itself). Errors that are an emulated AWS answer (the
gateway's ``GatewayError``, the edge's AWS errors) are responses, not exceptions of this tree.

The CLI prints ``str(error)`` (one paragraph) and exits with ``error.exit_code``.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "DeployError",
    "EnvironmentError_",
    "HarnessError",
    "LoadGeneratorError",
    "NotRunningError",
    "PortInUseError",
    "SetupError",
    "StartError",
    "TokenError",
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message.rstrip()
        if self.fix:
            text += ("\nFix: " if "\n" in text else " Fix: ") + self.fix.rstrip()
        return text


class ConfigError(HarnessError):
    """A bad option, environment variable or input file.

    ``source`` names the file or option and ``field`` the offending field.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.source = source
        self.field = field
        where = ", ".join(part for part in (source, f"field '{field}'" if field else None) if part)
        super().__init__(f"{where}: {message}" if where else message, fix=fix)


class SetupError(HarnessError):
    """A program or package the harness needs is not installed."""


class EnvironmentError_(HarnessError):
    """Something about the running environment (start, health, state)."""


class PortInUseError(EnvironmentError_):
    """A port the user asked for is already taken."""

    def __init__(self, port: int, component: str, owner: str | None = None) -> None:
        self.port = port
        self.component = component
        held = f" (held by {owner})" if owner else ""
        super().__init__(
            f"Port {port} requested for {component} is already in use{held}.",
            fix=f"free the port, or leave the {component} port unset so that a free one is chosen.",
        )


class StartError(EnvironmentError_):
    """A component died or did not answer while the environment was starting.

    ``log_tail`` holds the last lines of the component's log.
    """

    def __init__(
        self, component: str, reason: str, *, log_tail: str = "", fix: str | None = None
    ) -> None:
        self.component = component
        self.reason = reason
        self.log_tail = log_tail
        message = f"{component} failed to start: {reason}"
        if log_tail.strip():
            message += f"\n--- last lines of the {component} log ---\n{log_tail.rstrip()}\n---"
        super().__init__(message, fix=fix)


class NotRunningError(EnvironmentError_):
    """A command needs a running environment and there is none."""


class BackendError(HarnessError):
    """The chosen backend cannot run here."""


class TokenError(HarnessError):
    """A token provider, token endpoint or Cognito sign-in could not produce a token."""


class DeployError(HarnessError):
    """A template that cannot be deployed, with the place of the problem.

    ``problems`` lists every problem found when more than one was (e.g. all cfn-lint errors).
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        logical_id: str | None = None,
        property: str | None = None,
        backend: str | None = None,
        fix: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.file = file
        self.logical_id = logical_id
        self.property = property
        self.backend = backend
        self.problems = problems or []
        where = []
        if file:
            where.append(file)
        if logical_id:
            where.append(f"resource '{logical_id}'")
        if property:
            where.append(f"property '{property}'")
        if backend:
            where.append(f"backend {backend}")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(text, fix=fix)


class LoadGeneratorError(HarnessError):
    """The load generator's master or a worker failed; the message holds the end of its
    output."""
