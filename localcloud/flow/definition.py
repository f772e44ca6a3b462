"""Load a CloudFlow definition (current spec, docs/SERVERLESS.md §1) and check it statically.

    d = load_definition(Path("workflows/provision.yaml"))   # or a YAML/JSON string, or a dict
    d.name, d.root.start_at, d.root.states["CheckExpiry"].spec

``DefinitionError.problems`` lists every problem found, each naming the state by its path
(``Fanout/Branch0/A``, ``PerDomain/Processor/Handle``). CreateFlow/UpdateFlow refuse a definition
with any problem (``localcloud/products/fnf``): only what the FDL documents is accepted — a Fail
with a literal ``Detail``, no ``Code.$``/``Detail.$``, a ``Description`` on every Retry and Catch —
and the problem quotes the doc's rule.

Over 500 lines: the FDL's rules, one checker per state type plus the scope-graph checks, read
best side by side.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from .expressions import ExpressionError, check_template, parse, uses_output

STATE_TYPES = ("Task", "Pass", "Choice", "Wait", "Parallel", "Map", "Succeed", "Fail")
_COMMON = {"Name", "Type", "Description", "InputConstructor", "OutputConstructor"}
_FLOW = {"Next", "End"}
FIELDS: dict[str, set[str]] = {
    "Task": _COMMON | _FLOW | {"Action", "TaskMode", "Parameters", "Timeout", "Retry", "Catch"},
    "Pass": _COMMON | _FLOW,
    "Choice": _COMMON | {"Branches", "Default"},
    "Wait": _COMMON | _FLOW | {"Seconds", "Seconds.$"},
    "Parallel": _COMMON | _FLOW | {"Branches", "Retry", "Catch"},
    "Map": _COMMON | _FLOW | {"ItemsPath", "MaxConcurrency", "MaxConcuccency", "Processor", "Retry", "Catch"},
    "Succeed": set(_COMMON),
    "Fail": _COMMON | {"Code", "Detail"},
}
TOP_FIELDS = {"Type", "SpecVersion", "Name", "StartAt", "States", "Description", "Timeout"}
RETRY_FIELDS = {"Description", "Errors", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxBackoffSeconds"}
CATCH_FIELDS = {"Description", "Errors", "Next", "OutputConstructor"}
TASK_PARAMS = {"resourceArn", "invocationType", "body", "body.$"}
MAP_MAX_CONCURRENCY = 40     # inline Map
# The Map concurrency key, read here only (map_concurrency). The inline-mode field table spells it
# "MaxConcuccency" ("MaxConcuccency int No Maximum number of parallel sub-flows. Upper limit is
# 40.", https://www.alibabacloud.com/help/en/serverless-workflow/latest/inline-mode, Mar 2026; the
# Map overview: inline default 40) — a typo no public flow uses; which spelling the engine parses is
# unconfirmed. A definition may give both with the same value (the repository's workflows do, so a
# wrong guess is never silently ignored); the runner honours the one given.
MAP_CONCURRENCY_KEYS = ("MaxConcuccency", "MaxConcurrency")
FAIL_DOC = "https://www.alibabacloud.com/help/en/serverless-workflow/latest/fail"
ERROR_HANDLING_DOC = "https://www.alibabacloud.com/help/en/serverless-workflow/latest/error-handling"
MAX_BRANCHES = 50
WAIT_MAX_SECONDS = 300       # Standard mode
_ARN_RE = re.compile(r"^acs:fc:[^:]*:[^:]*:functions/(?P<fn>[A-Za-z_][A-Za-z0-9_\-]{0,63})(/(?P<q>[A-Za-z0-9_\-.]+))?$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")


class DefinitionError(ValueError):
    """The definition is invalid; ``problems`` lists every problem (each names its state)."""

    def __init__(self, problems: list[str], source: str = "definition") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(f"invalid flow {source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))


@dataclass
class State:
    name: str
    type: str
    spec: dict[str, Any]
    path: str                                   # e.g. "Fanout/Branch0/A"
    scopes: list[Scope] = field(default_factory=list)   # Parallel branches / Map processor

    @property
    def next(self) -> str | None:
        return self.spec.get("Next")

    @property
    def end(self) -> bool:
        return self.spec.get("End") is True


@dataclass
class Scope:
    start_at: str
    states: dict[str, State]
    path: str                                   # "" for the top level


@dataclass
class Definition:
    name: str
    root: Scope
    raw: dict[str, Any]
    description: str = ""

    @property
    def text(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False)


def function_from_arn(arn: str) -> tuple[str, str] | None:
    """``acs:fc:::functions/cert-check/LATEST`` → ``("cert-check", "LATEST")``."""
    m = _ARN_RE.match(arn or "")
    if not m:
        return None
    return m.group("fn"), m.group("q") or "LATEST"


def parse_source(src: Any) -> dict[str, Any]:
    """YAML or JSON text / bytes / a Path / an already parsed mapping → a dict."""
    if isinstance(src, Path):
        src = src.read_text(encoding="utf-8")
    if isinstance(src, bytes):
        src = src.decode("utf-8")
    if isinstance(src, str):
        text = src
        try:
            data = json.loads(text)
        except ValueError:
            import yaml
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise DefinitionError([f"not valid YAML or JSON: {exc}"]) from None
        src = data
    if not isinstance(src, dict):
        raise DefinitionError(["the definition must be a mapping (Type, SpecVersion, Name, StartAt, States)"])
    return src


def load_definition(src: Any, *, flow_name: str | None = None) -> Definition:
    """Parse and statically check a definition; raises ``DefinitionError`` listing all problems.

    ``flow_name``: when given, the top-level ``Name`` must equal it (CreateFlow's rule)."""
    raw = parse_source(src)
    problems: list[str] = []
    if "version" in raw or "steps" in raw:
        raise DefinitionError(["legacy FDL (version/type/steps) is not supported: use the current spec "
                               "(Type: StateMachine, SpecVersion: v1, States list)"])
    for k in raw:
        if k not in TOP_FIELDS:
            problems.append(f"top level: unknown field {k!r} (allowed: {', '.join(sorted(TOP_FIELDS))})")
    if raw.get("Type") != "StateMachine":
        problems.append(f"top level: Type must be 'StateMachine', got {raw.get('Type')!r}")
    if raw.get("SpecVersion") != "v1":
        problems.append(f"top level: SpecVersion must be 'v1', got {raw.get('SpecVersion')!r}")
    name = raw.get("Name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append("top level: Name must be a flow name (letters, digits, _ and -; starts with a letter or _), "
                        f"got {name!r}")
    elif flow_name is not None and name != flow_name:
        problems.append(f"top level: Name {name!r} must equal the flow name {flow_name!r}")
    if "Timeout" in raw and not _is_int_like(raw["Timeout"]):
        problems.append(f"top level: Timeout must be a number of seconds, got {raw['Timeout']!r}")
    root = _scope(raw, "", problems)
    if problems:
        raise DefinitionError(problems, source=f"definition {name!r}" if isinstance(name, str) else "definition")
    assert root is not None and isinstance(name, str)  # problems were raised otherwise
    return Definition(name=name, root=root, raw=raw, description=str(raw.get("Description") or ""))


def _is_int_like(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, str) and v.strip().isdigit()


def _is_num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _label(path: str, name: str) -> str:
    return f"state '{(path + '/') if path else ''}{name}'"


def _scope(block: dict[str, Any], path: str, problems: list[str]) -> Scope | None:
    where = f"'{path}'" if path else "top level"
    states_raw = block.get("States")
    start = block.get("StartAt")
    if not isinstance(states_raw, list) or not states_raw:
        problems.append(f"{where}: States must be a non-empty list of states")
        return None
    states: dict[str, State] = {}
    for i, item in enumerate(states_raw):
        if not isinstance(item, dict):
            problems.append(f"{where}: States[{i}] must be a mapping")
            continue
        name = item.get("Name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: States[{i}] has no Name")
            continue
        label = _label(path, name)
        if name in states:
            problems.append(f"{label}: duplicate state name")
            continue
        typ = item.get("Type")
        if typ not in STATE_TYPES:
            problems.append(f"{label}: unknown Type {typ!r} (known: {', '.join(STATE_TYPES)})")
            continue
        st = State(name=name, type=typ, spec=item, path=f"{path}/{name}" if path else name)
        states[name] = st
        _check_state(st, label, problems)
    if not isinstance(start, str):
        problems.append(f"{where}: StartAt is missing")
    elif start not in states and not any(
            isinstance(s, dict) and s.get("Name") == start for s in states_raw):
        problems.append(f"{where}: StartAt {start!r} is not a state of this scope")
    scope = Scope(start_at=start if isinstance(start, str) else "", states=states, path=path)
    if not states:
        return scope
    # references
    for st in states.values():
        label = _label(path, st.name)
        for tgt, what in _targets(st):
            if isinstance(tgt, str) and tgt not in states:
                problems.append(f"{label}: {what} {tgt!r} is not a state of this scope")
    # reachability from StartAt
    if scope.start_at in states:
        seen = {scope.start_at}
        todo = [scope.start_at]
        while todo:
            cur = states[todo.pop()]
            for tgt, _ in _targets(cur):
                if tgt in states and tgt not in seen:
                    seen.add(tgt)
                    todo.append(tgt)
        for n in states:
            if n not in seen:
                problems.append(f"{_label(path, n)}: unreachable from StartAt {scope.start_at!r}")
        # terminal states and states that can never reach one
        terminal = {n for n, s in states.items() if s.type in ("Succeed", "Fail") or s.end}
        if not terminal:
            problems.append(f"{where}: no terminal state (a Succeed, a Fail or a state with End: true)")
        else:
            can_end = set(terminal)
            changed = True
            while changed:
                changed = False
                for n, s in states.items():
                    if n not in can_end and any(t in can_end for t, _ in _targets(s)):
                        can_end.add(n)
                        changed = True
            for n in seen:
                if n not in can_end:
                    problems.append(f"{_label(path, n)}: can never reach a terminal state (a loop without exit)")
    return scope


def _targets(st: State) -> list[tuple[Any, str]]:
    out: list[tuple[Any, str]] = []
    spec = st.spec
    if "Next" in spec:
        out.append((spec["Next"], "Next"))
    if st.type == "Choice":
        for i, br in enumerate(spec.get("Branches") or []):
            if isinstance(br, dict) and "Next" in br:
                out.append((br["Next"], f"Branches[{i}].Next"))
        if "Default" in spec:
            out.append((spec["Default"], "Default"))
    for i, c in enumerate(spec.get("Catch") or [] if isinstance(spec.get("Catch"), list) else []):
        if isinstance(c, dict) and "Next" in c:
            out.append((c["Next"], f"Catch[{i}].Next"))
    return out


def _check_state(st: State, label: str, problems: list[str]) -> None:
    spec, typ = st.spec, st.type
    allowed = FIELDS[typ]
    for k in spec:
        if typ == "Fail" and k in ("Code.$", "Detail.$"):
            problems.append(f"{label}: {k} is not a Fail field: Code and Detail are literal strings (no "
                            f"expressions; {FAIL_DOC})")
            continue
        if k not in allowed:
            hint = ""
            if k in ("Next", "End") and typ in ("Succeed", "Fail"):
                hint = f" ({typ} is terminal: it has no Next/End)"
            elif k in ("Next", "End") and typ == "Choice":
                hint = " (Choice uses Branches[].Next and Default)"
            problems.append(f"{label}: unknown field {k!r} for a {typ} state{hint}")
    # Next / End
    if typ in ("Task", "Pass", "Wait", "Parallel", "Map"):
        has_next, has_end = "Next" in spec, "End" in spec
        if has_next and has_end:
            problems.append(f"{label}: has both Next and End")
        elif not has_next and not has_end:
            problems.append(f"{label}: missing Next or End: true")
        elif has_end and spec["End"] is not True:
            problems.append(f"{label}: End must be true (omit it and set Next instead)")
        elif has_next and not isinstance(spec["Next"], str):
            problems.append(f"{label}: Next must be a state name")
    # constructors
    for key in ("InputConstructor", "OutputConstructor"):
        if key in spec:
            if not isinstance(spec[key], dict):
                problems.append(f"{label}: {key} must be a mapping")
            else:
                check_template(spec[key], f"{label}: {key}", problems, allow_output=key == "OutputConstructor")
    if "Description" in spec and not isinstance(spec["Description"], str):
        problems.append(f"{label}: Description must be a string")
    _TYPE_CHECKS[typ](st, label, problems)
    if "Retry" in spec:
        _check_retry(spec["Retry"], label, problems)
    if "Catch" in spec:
        _check_catch(spec["Catch"], label, problems)


def _check_expr(val: Any, what: str, problems: list[str]) -> None:
    """Syntax of an expression used outside OutputConstructor (so no ``$Output``)."""
    try:
        node = parse(val)
    except ExpressionError as exc:
        problems.append(f"{what}: {exc}")
        return
    if uses_output(node):
        problems.append(f"{what}: $Output is only allowed inside an OutputConstructor")


class _Checks:
    @staticmethod
    def task(st: State, label: str, problems: list[str]) -> None:
        spec = st.spec
        action = spec.get("Action")
        if action is None:
            problems.append(f"{label}: Action is missing (use FC:InvokeFunction)")
        elif action != "FC:InvokeFunction":
            problems.append(f"{label}: Action {action!r} is not supported by the local runner (only FC:InvokeFunction)")
        mode = spec.get("TaskMode", "RequestComplete")
        if mode != "RequestComplete":
            problems.append(f"{label}: TaskMode {mode!r} is not supported by the local runner (only RequestComplete)")
        if "Timeout" in spec:
            t = spec["Timeout"]
            if not _is_int_like(t) or not 0 <= int(t) <= 604800:
                problems.append(f"{label}: Timeout must be a number of seconds 0-604800 (a string, e.g. \"60\"), "
                                f"got {t!r}")
        params = spec.get("Parameters")
        if not isinstance(params, dict):
            problems.append(f"{label}: Parameters must be a mapping with resourceArn and invocationType")
            return
        for k in params:
            if k not in TASK_PARAMS:
                problems.append(f"{label}: unknown FC:InvokeFunction parameter {k!r} "
                                f"(allowed: {', '.join(sorted(TASK_PARAMS))})")
        arn = params.get("resourceArn")
        if not isinstance(arn, str):
            problems.append(f"{label}: Parameters.resourceArn is missing")
        elif function_from_arn(arn) is None:
            problems.append(f"{label}: Parameters.resourceArn {arn!r} is not an FC 3.0 function ARN "
                            "(acs:fc:<region>:<account>:functions/<name>/<qualifier>)")
        inv = params.get("invocationType")
        if inv != "Sync":
            problems.append(f"{label}: Parameters.invocationType must be 'Sync' (with TaskMode RequestComplete), "
                            f"got {inv!r}")
        if "body" in params and "body.$" in params:
            problems.append(f"{label}: both Parameters.body and Parameters.body.$ are set")
        if "body.$" in params:
            if not isinstance(params["body.$"], str):
                problems.append(f"{label}: Parameters.body.$ must be an expression string")
            else:
                _check_expr(params["body.$"], f"{label}: Parameters.body.$", problems)
        if isinstance(params.get("body"), (dict, list)):
            check_template(params["body"], f"{label}: Parameters.body", problems, allow_output=False)

    @staticmethod
    def pass_(st: State, label: str, problems: list[str]) -> None:
        pass

    @staticmethod
    def succeed(st: State, label: str, problems: list[str]) -> None:
        pass

    @staticmethod
    def choice(st: State, label: str, problems: list[str]) -> None:
        spec = st.spec
        brs = spec.get("Branches")
        if not isinstance(brs, list) or not brs:
            problems.append(f"{label}: Branches must be a non-empty list of {{Condition, Next}}")
        else:
            for i, br in enumerate(brs):
                if not isinstance(br, dict):
                    problems.append(f"{label}: Branches[{i}] must be a mapping")
                    continue
                for k in br:
                    if k not in ("Condition", "Next", "Description"):
                        problems.append(f"{label}: Branches[{i}]: unknown field {k!r}")
                cond = br.get("Condition")
                if not isinstance(cond, str):
                    problems.append(f"{label}: Branches[{i}].Condition is missing")
                else:
                    _check_expr(cond, f"{label}: Branches[{i}].Condition", problems)
                if not isinstance(br.get("Next"), str):
                    problems.append(f"{label}: Branches[{i}].Next is missing")
        if "Default" not in spec:
            problems.append(f"{label}: Default is missing (required on a Choice)")
        elif not isinstance(spec["Default"], str):
            problems.append(f"{label}: Default must be a state name")

    @staticmethod
    def wait(st: State, label: str, problems: list[str]) -> None:
        spec = st.spec
        has_s, has_d = "Seconds" in spec, "Seconds.$" in spec
        if has_s == has_d:
            problems.append(f"{label}: exactly one of Seconds or Seconds.$ is required")
        elif has_s:
            s = spec["Seconds"]
            if not _is_int_like(s) or not 1 <= int(s) <= WAIT_MAX_SECONDS:
                problems.append(f"{label}: Seconds must be an integer 1-{WAIT_MAX_SECONDS}, got {s!r}")
        else:
            if not isinstance(spec["Seconds.$"], str):
                problems.append(f"{label}: Seconds.$ must be an expression string")
            else:
                _check_expr(spec["Seconds.$"], f"{label}: Seconds.$", problems)

    @staticmethod
    def fail(st: State, label: str, problems: list[str]) -> None:
        """The FDL's Fail: ``Code`` (string, optional) and ``Detail`` (string, required): "Every Fail
        state requires a Detail value … Code is optional but recommended" (FAIL_DOC)."""
        spec = st.spec
        if "Detail" not in spec:
            problems.append(f"{label}: Detail is missing: every Fail state requires a Detail value ({FAIL_DOC})")
        for k in ("Code", "Detail"):
            if k in spec and (not isinstance(spec[k], str) or not spec[k].strip()):
                problems.append(f"{label}: {k} must be a non-empty literal string ({FAIL_DOC})")

    @staticmethod
    def parallel(st: State, label: str, problems: list[str]) -> None:
        brs = st.spec.get("Branches")
        if not isinstance(brs, list) or not brs:
            problems.append(f"{label}: Branches must be a non-empty list of {{StartAt, States}}")
            return
        if len(brs) > MAX_BRANCHES:
            problems.append(f"{label}: at most {MAX_BRANCHES} Branches, got {len(brs)}")
        for i, br in enumerate(brs):
            if not isinstance(br, dict):
                problems.append(f"{label}: Branches[{i}] must be a mapping with StartAt and States")
                continue
            for k in br:
                if k not in ("StartAt", "States", "Description"):
                    problems.append(f"{label}: Branches[{i}]: unknown field {k!r}")
            sc = _scope(br, f"{st.path}/Branch{i}", problems)
            if sc is not None:
                st.scopes.append(sc)

    @staticmethod
    def map(st: State, label: str, problems: list[str]) -> None:
        spec = st.spec
        ip = spec.get("ItemsPath")
        if not isinstance(ip, str):
            problems.append(f"{label}: ItemsPath is missing (an expression such as $Input.items)")
        else:
            _check_expr(ip, f"{label}: ItemsPath", problems)
        given = {k: spec[k] for k in MAP_CONCURRENCY_KEYS if k in spec}
        for k, v in given.items():
            if not _is_int_like(v) or not 0 <= int(v) <= MAP_MAX_CONCURRENCY:
                problems.append(f"{label}: {k} must be an integer 0-{MAP_MAX_CONCURRENCY} (0 = the maximum), "
                                f"got {v!r}")
        if len(given) == 2 and len({str(v) for v in given.values()}) != 1:
            problems.append(f"{label}: MaxConcuccency and MaxConcurrency are both set, to different values "
                            f"({given['MaxConcuccency']!r}, {given['MaxConcurrency']!r}); give one value")
        proc = spec.get("Processor")
        if not isinstance(proc, dict):
            problems.append(f"{label}: Processor is missing (a mapping with StartAt and States)")
            return
        for k in proc:
            if k not in ("StartAt", "States", "Description"):
                problems.append(f"{label}: Processor: unknown field {k!r}")
        sc = _scope(proc, f"{st.path}/Processor", problems)
        if sc is not None:
            st.scopes.append(sc)


_TYPE_CHECKS = {"Task": _Checks.task, "Pass": _Checks.pass_, "Succeed": _Checks.succeed,
                "Choice": _Checks.choice, "Wait": _Checks.wait, "Fail": _Checks.fail,
                "Parallel": _Checks.parallel, "Map": _Checks.map}


def map_concurrency(spec: dict[str, Any]) -> int:
    """A Map state's concurrency limit: its ``MaxConcuccency``/``MaxConcurrency`` (MAP_CONCURRENCY_KEYS;
    equal when both are given, checked at load) capped at :data:`MAP_MAX_CONCURRENCY`; 0 or absent
    means the maximum."""
    for k in MAP_CONCURRENCY_KEYS:
        if k in spec:
            n = int(spec[k])
            return min(n, MAP_MAX_CONCURRENCY) if n else MAP_MAX_CONCURRENCY
    return MAP_MAX_CONCURRENCY


def _check_errors(errs: Any, what: str, problems: list[str]) -> None:
    if not isinstance(errs, list) or not errs or not all(isinstance(e, str) and e for e in errs):
        problems.append(f"{what}.Errors must be a non-empty list of error names (e.g. [FnF.ALL])")


def _check_description(rule: dict[str, Any], what: str, problems: list[str]) -> None:
    """Retry and Catch rules need a ``Description`` ("Description string Yes A label for this retry
    rule", ERROR_HANDLING_DOC, Mar 2026)."""
    d = rule.get("Description")
    if not isinstance(d, str) or not d.strip():
        problems.append(f"{what}.Description is missing: a Retry or Catch rule needs a Description, a label for "
                        f"the rule ({ERROR_HANDLING_DOC})")


def _check_retry(rules: Any, label: str, problems: list[str]) -> None:
    if not isinstance(rules, list):
        problems.append(f"{label}: Retry must be a list")
        return
    for i, r in enumerate(rules):
        what = f"{label}: Retry[{i}]"
        if not isinstance(r, dict):
            problems.append(f"{what} must be a mapping")
            continue
        for k in r:
            if k not in RETRY_FIELDS:
                problems.append(f"{what}: unknown field {k!r} (allowed: {', '.join(sorted(RETRY_FIELDS))})")
        _check_errors(r.get("Errors"), what, problems)
        _check_description(r, what, problems)
        iv = r.get("IntervalSeconds")
        if iv is None:
            problems.append(f"{what}.IntervalSeconds is missing")
        elif not _is_num(iv) or not 0 <= iv <= 86400:
            problems.append(f"{what}.IntervalSeconds must be a number 0-86400, got {iv!r}")
        ma = r.get("MaxAttempts")
        if ma is None:
            problems.append(f"{what}.MaxAttempts is missing")
        elif not isinstance(ma, int) or isinstance(ma, bool) or ma < 0:
            problems.append(f"{what}.MaxAttempts must be a non-negative integer, got {ma!r}")
        if "BackoffRate" in r and (not _is_num(r["BackoffRate"]) or r["BackoffRate"] < 1):
            problems.append(f"{what}.BackoffRate must be a number >= 1, got {r['BackoffRate']!r}")
        mbs = r.get("MaxBackoffSeconds")
        if "MaxBackoffSeconds" in r and (not _is_num(mbs) or not 0 < mbs <= 86400):
            problems.append(f"{what}.MaxBackoffSeconds must be a number 1-86400, got {r['MaxBackoffSeconds']!r}")


def _check_catch(rules: Any, label: str, problems: list[str]) -> None:
    if not isinstance(rules, list):
        problems.append(f"{label}: Catch must be a list")
        return
    for i, c in enumerate(rules):
        what = f"{label}: Catch[{i}]"
        if not isinstance(c, dict):
            problems.append(f"{what} must be a mapping")
            continue
        for k in c:
            if k not in CATCH_FIELDS:
                problems.append(f"{what}: unknown field {k!r} (allowed: {', '.join(sorted(CATCH_FIELDS))})")
        _check_errors(c.get("Errors"), what, problems)
        _check_description(c, what, problems)
        if not isinstance(c.get("Next"), str):
            problems.append(f"{what}.Next is missing")
        oc = c.get("OutputConstructor")
        if oc is not None:
            if not isinstance(oc, dict):
                problems.append(f"{what}.OutputConstructor must be a mapping")
            else:
                check_template(oc, f"{what}.OutputConstructor", problems, allow_output=False)
