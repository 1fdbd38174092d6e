"""The runner's failure kinds and how any exception maps to an exit code (see videogen_common.runner_contract)."""

from __future__ import annotations

import socket
import sys

from videogen_common.runner_contract import ExitCode


class RunnerError(Exception):
    """An error whose exit code the runner knows."""

    exit_code: ExitCode = ExitCode.INTERNAL


class InvalidInputError(RunnerError):
    """The spec, the input file or the model cannot work; retrying the same spec would fail the same way."""

    exit_code = ExitCode.INVALID_INPUT


class TransientError(RunnerError):
    """S3 or the network failed; the same spec may work on the next try."""

    exit_code = ExitCode.TRANSIENT


class TerminatedError(BaseException):
    """SIGTERM: the Job was deleted or cancelled, or the node is draining.

    A BaseException, as KeyboardInterrupt is, because the signal handler raises it wherever the main thread is:
    inside an S3 call, botocore turns any Exception into a retried HTTPClientError, so the SIGTERM would be lost
    and the run would go on to publish.
    """

    exit_code = ExitCode.TERMINATED


# S3 error codes that say "try again later" rather than "this request is wrong".
_TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
        "502",
        "504",
    }
)


def is_transient_s3_error(exc: BaseException) -> bool:
    """Whether a botocore/network exception is worth retrying (connection trouble, 5xx, throttling)."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in _TRANSIENT_S3_CODES or status >= 500
    return isinstance(exc, ConnectionError | HTTPClientError | BotoCoreError | socket.error | TimeoutError)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an exception that escaped a run."""
    if isinstance(exc, RunnerError | TerminatedError):
        return exc.exit_code
    if is_cuda_oom(exc):
        return ExitCode.OUT_OF_MEMORY
    if is_transient_s3_error(exc):
        return ExitCode.TRANSIENT
    return ExitCode.INTERNAL


def is_cuda_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError, or the RuntimeError some kernels raise with the same words."""
    # Not imported means not loaded yet, so it cannot be torch's error (and importing it here costs seconds).
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()
