"""The ``workflows`` check: every definition passes the local runner's static checks, is deployed by a
``flow`` resource, and invokes only functions ``s.yaml`` deploys."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from deploy.check.report import Report
    from deploy.check.syaml import FcResource


def _walk_states(scope: Any):
    for st in scope.states.values():
        yield st
        for sub in st.scopes:
            yield from _walk_states(sub)


def check_workflows(root: Path, rep: Report, fcs: list[FcResource], flows: dict[str, dict]) -> dict[str, list[str]]:
    """Static checks of every workflow; returns ``{function name: [where invoked]}``."""
    from localcloud.flow.definition import DefinitionError, function_from_arn, load_definition
    names = {f.name for f in fcs}
    invoked: dict[str, list[str]] = {}
    files = sorted(p for ext in ("*.yaml", "*.yml", "*.json") for p in (root / "workflows").glob(ext))
    rep.checked["workflows"] = [p.relative_to(root).as_posix() for p in files]
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel not in flows:
            rep.add("workflows", rel, "no flow resource in s.yaml deploys this definition")
        try:
            d = load_definition(path)
        except DefinitionError as exc:
            if rel not in flows:          # flow resources already reported their definition's problems
                for p in exc.problems:
                    rep.add("workflows", rel, p)
            continue
        for st in _walk_states(d.root):
            if st.type != "Task":
                continue
            arn = (st.spec.get("Parameters") or {}).get("resourceArn", "")
            fn = function_from_arn(arn)
            if fn is None:
                continue
            invoked.setdefault(fn[0], []).append(f"{rel}:{st.path}")
            if fn[0] not in names:
                rep.add("workflows", f"{rel}: state '{st.path}'",
                        f"invokes {fn[0]!r}, which is not a function in s.yaml "
                        f"(have: {', '.join(sorted(n for n in names if n))})")
    return invoked
