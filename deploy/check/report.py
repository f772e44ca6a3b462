"""What ``check-deploy`` returns: one :class:`Problem` per finding, notes, and what was checked."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from deploy.check.ram import OBSERVATION_RULE


@dataclass(frozen=True)
class Problem:
    check: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.where}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, check: str, where: str, message: str) -> None:
        self.problems.append(Problem(check, where, message))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems], "notes": self.notes,
                "checked": self.checked, "observation_rule": OBSERVATION_RULE}

    def text(self) -> str:
        lines = [f"check-deploy: {'OK' if self.ok else f'{len(self.problems)} problem(s)'}"]
        lines += [f"  {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
