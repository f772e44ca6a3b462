"""Named chains of pure checks (the shape of cert-manager's policy chains): a step gathers a frozen
observation, then a :class:`Chain` of small named checks returns the first :class:`Violation`
(stable ``code``, a message that says what to change, the input ``field``) — or ``None``. The same
chain serves the ``preflight`` step (read-only, before any write) and the step that acts, so the
two can never disagree. Checks do no I/O and take the time from the observation.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.core.errors import AlbMtlsError

__all__ = ["Violation", "Check", "Chain"]

Obs = TypeVar("Obs")


@dataclass(frozen=True, slots=True)
class Violation:
    """What a check found wrong: ``code`` (``shared.core.errors.Code``), ``message`` (what to
    change), ``field`` (the dotted input path, if any)."""

    code: str
    message: str
    field: str | None = None

    def error(self) -> AlbMtlsError:
        """The :class:`AlbMtlsError` a step raises for it (returned as a failed result)."""
        return AlbMtlsError(self.code, self.message, field=self.field)


#: a check: ``observation -> Violation | None``
Check = Callable[[Obs], "Violation | None"]


@dataclass(frozen=True)
class Chain(Generic[Obs]):
    """``checks`` in order, each with its name (logged and listed in docs)."""

    name: str
    checks: tuple[tuple[str, Check[Obs]], ...]

    def evaluate(self, obs: Obs) -> Violation | None:
        """The first violation, or ``None`` when every check passes."""
        for _, check in self.checks:
            found = check(obs)
            if found is not None:
                return found
        return None

    def enforce(self, obs: Obs) -> None:
        """Raise the first violation as an :class:`AlbMtlsError` (nothing when all pass)."""
        found = self.evaluate(obs)
        if found is not None:
            raise found.error()

    @property
    def names(self) -> tuple[str, ...]:
        """The checks' names, in order."""
        return tuple(n for n, _ in self.checks)
