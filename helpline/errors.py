"""One error tree for the whole project."""

from __future__ import annotations


class HelplineError(Exception):
    """Base class of every error raised by the helpline core."""


class ConfigError(HelplineError):
    """A setting is missing or invalid. The message names the setting."""


class KnowledgeBaseError(HelplineError):
    """The knowledge base content or its built index is invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the knowledge base:\n- " + "\n- ".join(problems))


class IndexMismatch(KnowledgeBaseError):
    """A built index does not match the configured model or the content."""


class HandoffError(HelplineError):
    """The handoff store could not complete an operation."""


class ChannelError(HelplineError):
    """A messaging channel failed."""


class BadSignature(ChannelError):
    """A webhook request failed signature verification."""


class SendFailed(ChannelError):
    """A message could not be delivered to a platform.

    ``permanent`` failures (the platform refuses for good, e.g. Zalo -230 or
    Facebook's 24 h window) are recorded and not retried; others are retried,
    no sooner than ``retry_after`` seconds when the platform says so.
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after
