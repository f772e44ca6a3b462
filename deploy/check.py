"""``albmtls check-deploy``: the deployment artefacts checked offline, each problem named.

    report = check_deploy(Path("."), state_dir=Path(".albmtls"), build=True)
    report.ok, report.problems     # [Problem(check, where, message), …]

What is checked (``check`` names in the report):

``s.yaml``      YAML; ``edition: 3.0.0``; variables resolved (``${vars.x}``, ``${env('X', 'default')}``,
                ``${resources.R.props…}``; unset variables become a visible placeholder); every
                ``fc3`` resource's ``props`` against the fc3 component's JSON Schema
                (``deploy/schema/fc3-schema.json``) plus: no prop the schema does not know (the
                schema allows extra keys, so ``environment`` would pass and be ignored), python3.12,
                ``index.handler``, ``code: ./build/<dir>`` matching the function name
                (``albmtls-issue-client-cert`` ↔ ``issue_client_cert``, the local runner's rule),
                ``functions/<dir>/index.py`` present, role and logs set, triggers (timer: 6-field
                cron, JSON payload; http: signed or JWT, never anonymous); every ``flow``
                resource (region supported by the component, definition file present and passing
                the local runner's static checks, Name = flow name, role); nothing account-specific.
``build``       each function's code directory (a fresh ``--no-deps`` build in a temporary
                directory with ``--build``; the existing ``build/`` with ``--no-build``):
                ``index.py`` defines ``handler``, ``shared/`` is there, no ``localcloud``/tests;
                the handler imports in a subprocess with only that directory on ``sys.path``
                (plus this interpreter's site-packages for a code-only build), and ``index`` and
                ``shared`` resolve from it; products detected in the code are declared.
``workflows``   every ``workflows/*.yaml`` passes ``localcloud.flow.load_definition``, is deployed
                by a ``flow`` resource, and each Task's ``resourceArn`` names an fc3 function.
``ram``         the policy documents in ``deploy/ram/`` parse; trust principals; the flow role may
                ``fc:InvokeFunction`` exactly the functions the workflows invoke; and the
                function role's actions equal the actions observed on the local cloud
                (see :data:`OBSERVATION_RULE`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "deploy" / "schema" / "fc3-schema.json"
FUNCTION_PREFIX = "albmtls-"
#: regions the Serverless Devs ``flow`` component accepts (hard-coded in its source, reference §3.3)
FLOW_REGIONS = ("cn-beijing", "cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-shenzhen",
                "ap-southeast-1", "us-west-1", "cn-heyuan-acdr-1")

#: local cloud product (call log) → RAM action prefix
RAM_PREFIX = {"alb": "alb", "cas": "yundun-cert", "pca": "yundun-cert", "alidns": "alidns", "kms": "kms", "fnf": "fnf"}
OBSERVABLE_PREFIXES = frozenset(RAM_PREFIX.values())
#: CloudFlow calls that are not the functions' (they are ``s deploy``'s and the operator's)
FNF_DEPLOY_ACTIONS = frozenset({"CreateFlow", "UpdateFlow", "DescribeFlow", "DeleteFlow", "ListFlows"})
FNF_OPERATOR_ACTIONS = frozenset({"GetExecutionHistory", "StopExecution"})
OBSERVATION_RULE = """\
Least privilege by observation: every call the local cloud logged (table `calls` of
<state-dir>/cloud.sqlite3, all runs on that state directory — deploy/observe.py makes the
reference run: provision, an update of the same listener, a rotation with revocation) is mapped to a RAM action
(alb→alb:, cas and pca→yundun-cert:, alidns→alidns:, kms→kms:, fnf→fnf:). CloudFlow flow
management (CreateFlow, UpdateFlow, DescribeFlow, DeleteFlow, ListFlows) is `s deploy`'s and the
operator's GetExecutionHistory/StopExecution are the CLI's: both must be in the deployer policy and
are not the functions'. Every other call — including fnf StartExecution, DescribeExecution and
ListExecutions, which the CLI makes locally and provision_api/rotation_scan make in the cloud —
must be allowed by the function role, and the function role allows nothing else except the
actions listed with a reason in deploy/ram/unobserved.json (paths a normal run does not take, and
platform actions such as log:PostLogStoreLogs that the local cloud cannot observe)."""

_VAR = re.compile(r"\$\{([^{}]*)\}")
_ENV_CALL = re.compile(r"""^env\(\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?\s*(?:,\s*['"](.*)['"]\s*)?\)$""")
_ACCOUNT_LIKE = [(re.compile(r"(?<![\w.])\d{16}(?![\w.])"), "a 16-digit account id"),
                 (re.compile(r"acs:ram::\d+:"), "a role ARN with an account id"),
                 (re.compile(r"\bLTAI[0-9A-Za-z]{12,}"), "an AccessKey id")]
_POLICY_PLACEHOLDERS = {"account_id", "region", "secret_prefix"}
_KNOWN_PREFIXES = OBSERVABLE_PREFIXES | {"fc", "log", "ram", "sts"}


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


# ---------------------------------------------------------------------------------------------
# s.yaml variables
# ---------------------------------------------------------------------------------------------
class _Resolver:
    def __init__(self, doc: dict[str, Any], env: Mapping[str, str], notes: list[str]) -> None:
        self.doc, self.env, self.notes = doc, env, notes
        self.vars: dict[str, Any] = {}
        self._noted: set[str] = set()
        raw_vars = doc.get("vars") or {}
        for k, v in raw_vars.items() if isinstance(raw_vars, dict) else ():
            self.vars[k] = self.value(v, this=None)

    def _note(self, msg: str) -> None:
        if msg not in self._noted:
            self._noted.add(msg)
            self.notes.append(msg)

    def expr(self, e: str, this: tuple[str, dict] | None) -> Any:
        e = e.strip()
        m = _ENV_CALL.match(e)
        if m:
            name, default = m.group(1), m.group(2)
            if self.env.get(name):
                return self.env[name]
            if default is not None:
                return default
            self._note(f"s.yaml: environment variable {name} is unset; checked with a placeholder")
            return f"<env {name}>"
        if e.startswith("vars."):
            key = e[5:]
            if key not in self.vars:
                raise KeyError(f"${{{e}}}: no such var (vars: {', '.join(sorted(self.vars)) or 'none'})")
            return self.vars[key]
        if e.startswith("resources."):
            parts = e.split(".")
            res = (self.doc.get("resources") or {}).get(parts[1]) if len(parts) > 1 else None
            if not isinstance(res, dict):
                raise KeyError(f"${{{e}}}: no resource {parts[1] if len(parts) > 1 else ''!r}")
            if len(parts) > 2 and parts[2] == "props":
                cur: Any = res.get("props") or {}
                for p in parts[3:]:
                    if not isinstance(cur, dict) or p not in cur:
                        raise KeyError(f"${{{e}}}: {p!r} is not in that resource's props")
                    cur = cur[p]
                return self.value(cur, this=(parts[1], res))
            return f"<{e}>"          # output/info: known only after deploy
        if e.startswith("this.") and this is not None:
            if e == "this.name":
                return this[0]
            return self.expr("resources." + this[0] + e[4:], None)
        self._note(f"s.yaml: ${{{e}}} is not evaluated offline; checked with a placeholder")
        return f"<{e}>"

    def value(self, v: Any, this: tuple[str, dict] | None) -> Any:
        if isinstance(v, dict):
            return {k: self.value(x, this) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, this) for x in v]
        if isinstance(v, str) and "${" in v:
            whole = _VAR.fullmatch(v.strip())
            if whole:
                return self.expr(whole.group(1), this)
            return _VAR.sub(lambda m: str(self.expr(m.group(1), this)), v)
        return v


def function_dir_for(name: str) -> str:
    """``albmtls-issue-client-cert`` → ``issue_client_cert`` (the local runner's mapping)."""
    base = name[len(FUNCTION_PREFIX):] if name.startswith(FUNCTION_PREFIX) else name
    return base.replace("-", "_")


def _walk_states(scope: Any):
    for st in scope.states.values():
        yield st
        for sub in st.scopes:
            yield from _walk_states(sub)


# ---------------------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------------------
@dataclass
class _Fc:
    key: str
    name: str
    props: dict[str, Any]
    code: str | None
    fdir: str | None


def check_deploy(root: Path = Path("."), *, state_dir: Path | None = Path(".albmtls"), build: bool = True,
                 observe: bool = True, env: Mapping[str, str] | None = None,
                 schema_file: Path | None = None) -> Report:
    """Run every check on the repository at ``root`` (see module doc)."""
    root = Path(root).resolve()
    env = os.environ if env is None else env
    rep = Report()
    fcs, flows = _check_syaml(root, rep, env, schema_file or SCHEMA_FILE)
    invoked = _check_workflows(root, rep, fcs, flows)
    _check_build(root, rep, fcs, build)
    _check_ram(root, rep, invoked, state_dir if observe else None)
    if not observe:
        rep.notes.append("observation skipped: the function role was not compared with observed calls")
    return rep


def _check_syaml(root: Path, rep: Report, env: Mapping[str, str], schema_file: Path) -> tuple[list[_Fc], dict[str, dict]]:
    import yaml
    path = root / "s.yaml"
    fcs: list[_Fc] = []
    flows: dict[str, dict] = {}          # definition file (relative, posix) → flow props
    if not path.is_file():
        rep.add("s.yaml", "s.yaml", "missing")
        return fcs, flows
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        rep.add("s.yaml", "s.yaml", f"not valid YAML: {exc}")
        return fcs, flows
    if not isinstance(doc, dict):
        rep.add("s.yaml", "s.yaml", "must be a mapping")
        return fcs, flows
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for rx, what in _ACCOUNT_LIKE:
            if rx.search(line):
                rep.add("s.yaml", f"s.yaml:{i}", f"contains {what}; take it from the environment (${{env('…')}})")
    if str(doc.get("edition")) != "3.0.0":
        rep.add("s.yaml", "edition", f"must be '3.0.0' (Serverless Devs 3), got {doc.get('edition')!r}")
    if not isinstance(doc.get("name"), str) or not doc.get("name"):
        rep.add("s.yaml", "name", "missing application name")
    pre = ((doc.get("actions") or {}).get("pre-deploy") or []) if isinstance(doc.get("actions"), dict) else []
    if not any(isinstance(a, dict) and any(k in str(a.get("run", "")) for k in ("deploy/build.py", "make build"))
               for a in pre):
        rep.add("s.yaml", "actions.pre-deploy", "no pre-deploy action running the build (python3 deploy/build.py or make build)")
    try:
        resolver = _Resolver(doc, env, rep.notes)
    except KeyError as exc:
        rep.add("s.yaml", "vars", str(exc.args[0]))
        return fcs, flows
    resources = doc.get("resources")
    if not isinstance(resources, dict) or not resources:
        rep.add("s.yaml", "resources", "no resources")
        return fcs, flows

    schema = json.loads(schema_file.read_text())
    from jsonschema import Draft7Validator
    validator = Draft7Validator(schema)
    sub = {t: Draft7Validator({"$ref": f"#/definitions/{d}", "definitions": schema["definitions"]})
           for t, d in (("timer", "ITimerTriggerConfig"), ("http", "IHttpTriggerConfig"))}
    known_props = set(schema.get("properties", {}))
    names: dict[str, str] = {}
    for key, res in resources.items():
        where = f"resources.{key}"
        if not isinstance(res, dict):
            rep.add("s.yaml", where, "must be a mapping with component and props")
            continue
        comp = res.get("component")
        try:
            props = resolver.value(res.get("props") or {}, this=(key, res))
        except KeyError as exc:
            rep.add("s.yaml", where, str(exc.args[0]))
            continue
        if comp == "fc3":
            fcs.append(_check_fc3(root, rep, where, props, validator, sub, known_props, names))
        elif comp == "flow":
            _check_flow(root, rep, where, props, flows)
        else:
            rep.add("s.yaml", where, f"unexpected component {comp!r} (this app uses fc3 and flow)")
    rep.checked["functions"] = sorted(f.name for f in fcs if f.name)
    rep.checked["flows"] = sorted(p.get("name", "?") for p in flows.values())
    # every function directory is deployed
    deployed = {f.fdir for f in fcs}
    fbase = root / "functions"
    if fbase.is_dir():
        for d in sorted(p.name for p in fbase.iterdir() if (p / "index.py").is_file()):
            if d not in deployed:
                rep.add("s.yaml", f"functions/{d}", "has an index.py but no fc3 resource deploys it")
    return fcs, flows


def _check_fc3(root: Path, rep: Report, where: str, props: dict, validator: Any, sub: dict,
               known_props: set[str], names: dict[str, str]) -> _Fc:
    for err in sorted(validator.iter_errors(props), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in err.absolute_path) or "props"
        rep.add("s.yaml", f"{where}.props.{loc}".rstrip("."), f"schema: {err.message}")
    for k in props:
        if k not in known_props:
            hint = " (did you mean environmentVariables?)" if k in ("environment", "env") else ""
            rep.add("s.yaml", f"{where}.props.{k}", f"not an fc3 prop; the component would ignore it{hint}")
    name = props.get("functionName") if isinstance(props.get("functionName"), str) else ""
    if name in names:
        rep.add("s.yaml", where, f"functionName {name!r} is also used by {names[name]}")
    names[name] = where
    if name and not name.startswith(FUNCTION_PREFIX):
        rep.add("s.yaml", f"{where}.props.functionName", f"{name!r} must start with {FUNCTION_PREFIX!r}")
    if props.get("runtime") != "python3.12":
        rep.add("s.yaml", f"{where}.props.runtime", f"must be python3.12, got {props.get('runtime')!r}")
    if props.get("handler") != "index.handler":
        rep.add("s.yaml", f"{where}.props.handler", f"must be index.handler, got {props.get('handler')!r}")
    code = props.get("code") if isinstance(props.get("code"), str) else None
    fdir = None
    m = re.fullmatch(r"(?:\./)?build/([A-Za-z_][A-Za-z0-9_]*)/?", code or "")
    if not m:
        rep.add("s.yaml", f"{where}.props.code", f"must be ./build/<function dir>, got {props.get('code')!r}")
    else:
        fdir = m.group(1)
        if name and function_dir_for(name) != fdir:
            rep.add("s.yaml", f"{where}.props.code", f"{code} does not match {name} (expected ./build/{function_dir_for(name)})")
        if not (root / "functions" / fdir / "index.py").is_file():
            rep.add("s.yaml", f"{where} ({name})", f"functions/{fdir}/index.py is missing")
    if not props.get("role"):
        rep.add("s.yaml", f"{where}.props.role", "missing: the function needs its RAM role (deploy/ram/function-role-policy.json)")
    if "logConfig" not in props:
        rep.add("s.yaml", f"{where}.props.logConfig", "missing: without SLS logs `s logs` shows nothing")
    envv = props.get("environmentVariables") or {}
    if isinstance(envv, dict) and envv.get("ALBMTLS_TARGET") != "cloud":
        rep.add("s.yaml", f"{where}.props.environmentVariables", "ALBMTLS_TARGET must be 'cloud'")
    for i, trig in enumerate(props.get("triggers") or []):
        if not isinstance(trig, dict):
            continue
        tw = f"{where}.props.triggers[{i}]"
        ttype, cfg = trig.get("triggerType"), trig.get("triggerConfig") or {}
        if ttype in sub:
            for err in sub[ttype].iter_errors(cfg):
                rep.add("s.yaml", tw, f"{ttype} triggerConfig: {err.message}")
        if ttype == "timer" and isinstance(cfg, dict):
            cron = str(cfg.get("cronExpression", ""))
            body = cron.split(" ", 1)[1] if cron.startswith("CRON_TZ=") and " " in cron else cron
            if not body.startswith("@every ") and len(body.split()) != 6:
                rep.add("s.yaml", tw, f"cronExpression {cron!r} must have 6 fields, seconds first (UTC)")
            if "payload" in cfg:
                try:
                    json.loads(cfg["payload"])
                except (TypeError, ValueError):
                    rep.add("s.yaml", tw, "payload must be JSON text (the function json.loads it)")
        if ttype == "http" and isinstance(cfg, dict) and cfg.get("authType") == "anonymous":
            rep.add("s.yaml", tw, "authType anonymous lets anyone provision; use function (signed) or jwt")
    return _Fc(key=where, name=name, props=props, code=code, fdir=fdir)


def _check_flow(root: Path, rep: Report, where: str, props: dict, flows: dict[str, dict]) -> None:
    from localcloud.flow.definition import DefinitionError, load_definition
    name = props.get("name")
    if props.get("region") not in FLOW_REGIONS:
        rep.add("s.yaml", f"{where}.props.region", f"{props.get('region')!r} is not a region the flow component accepts ({', '.join(FLOW_REGIONS)})")
    if not props.get("roleArn"):
        rep.add("s.yaml", f"{where}.props.roleArn", "missing: CloudFlow needs a role to invoke the functions")
    definition = props.get("definition")
    if not isinstance(definition, str):
        rep.add("s.yaml", f"{where}.props.definition", "must be the path of a file in workflows/")
        return
    rel = Path(definition)
    path = (root / rel).resolve()
    try:
        key = path.relative_to(root).as_posix()
    except ValueError:
        key = str(path)
    flows[key] = props
    if not path.is_file():
        rep.add("s.yaml", f"{where}.props.definition", f"{definition} does not exist")
        return
    try:
        load_definition(path, flow_name=name if isinstance(name, str) else None)
    except DefinitionError as exc:
        for p in exc.problems:
            rep.add("workflows", definition, p)


def _check_workflows(root: Path, rep: Report, fcs: list[_Fc], flows: dict[str, dict]) -> dict[str, list[str]]:
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
                        f"invokes {fn[0]!r}, which is not a function in s.yaml (have: {', '.join(sorted(n for n in names if n))})")
    return invoked


# ---------------------------------------------------------------------------------------------
# build / handlers
# ---------------------------------------------------------------------------------------------
def _load_build_tool() -> Any:
    from deploy import build
    return build


_IMPORT_PROBE = r"""
import importlib, json, sys
code = sys.argv[1]
sys.path[:0] = [code]
sys.path += [p for p in sys.argv[2:] if p]
mod = importlib.import_module("index")
import shared
print(json.dumps({"callable": callable(getattr(mod, "handler", None)), "index": mod.__file__,
                  "shared": shared.__file__, "localcloud": "localcloud" in sys.modules,
                  "tests": "tests" in sys.modules}))
"""


def _import_probe(code_dir: Path, extra: list[str]) -> tuple[bool, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
           "ALBMTLS_TARGET": "cloud", "ALBMTLS_REGION": "cn-hangzhou", "HOME": os.environ.get("HOME", "/tmp")}
    try:
        proc = subprocess.run([sys.executable, "-S", "-c", _IMPORT_PROBE, str(code_dir), *extra],
                              capture_output=True, text=True, timeout=120, env=env, cwd=str(code_dir))
    except subprocess.TimeoutExpired:
        return False, "importing index timed out (120 s)"
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return False, f"importing index failed: {last[-1] if last else proc.returncode}"
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, f"import probe printed no result: {proc.stdout[-200:]!r}"
    base = str(code_dir.resolve())
    if not res["callable"]:
        return False, "index.handler is not callable"
    for k in ("index", "shared"):
        if not str(Path(res[k]).resolve()).startswith(base):
            return False, f"{k} was imported from {res[k]}, not from the package"
    if res["localcloud"] or res["tests"]:
        return False, "importing the handler imported localcloud or tests, which are not deployed"
    return True, "ok"


def _has_handler(index: Path) -> bool:
    import ast
    try:
        tree = ast.parse(index.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "handler":
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "handler" for t in node.targets):
            return True
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "handler" for a in node.names):
            return True
    return False


def _check_build(root: Path, rep: Report, fcs: list[_Fc], build: bool) -> None:
    tool = _load_build_tool()
    todo = [f for f in fcs if f.fdir and (root / "functions" / f.fdir / "index.py").is_file()]
    tmp: tempfile.TemporaryDirectory | None = None
    manifest: dict[str, Any] = {}
    if build:
        tmp = tempfile.TemporaryDirectory(prefix="albmtls-check-build-")
        out = Path(tmp.name)
        try:
            if todo:
                manifest = tool.build(root, out, deps=False, only=sorted({f.fdir for f in todo}), log=lambda m: None)
        except tool.BuildError as exc:
            rep.add("build", "deploy/build.py", str(exc))
            tmp.cleanup()
            return
        rep.notes.append("build: fresh code-only build (--no-deps) in a temporary directory")
    else:
        out = root / "build"
        mf = out / "manifest.json"
        if mf.is_file():
            try:
                manifest = json.loads(mf.read_text())
            except ValueError:
                manifest = {}
    try:
        site = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
        jobs = []
        for f in fcs:
            if not f.fdir:
                continue
            where = f"{f.name} (build/{f.fdir})"
            code_dir = out / f.fdir
            if not (root / "functions" / f.fdir / "index.py").is_file():
                continue       # reported by the s.yaml check
            if not code_dir.is_dir():
                rep.add("build", where, f"not built: run `make build` (or check-deploy --build); {code_dir} is missing")
                continue
            index = code_dir / "index.py"
            if not index.is_file():
                rep.add("build", where, "index.py is missing from the package")
                continue
            if not _has_handler(index):
                rep.add("build", where, "index.py defines no `handler` (s.yaml handler: index.handler)")
                continue
            if not (code_dir / "shared" / "__init__.py").is_file():
                rep.add("build", where, "the shared/ package is missing from the package")
            for bad in ("localcloud", "tests"):
                if (code_dir / bad).exists():
                    rep.add("build", where, f"{bad}/ must not be deployed")
            entry = (manifest.get("functions") or {}).get(f.fdir) or {}
            for p in entry.get("problems") or []:
                rep.add("build", where, p)
            undeclared = set(entry.get("detected_products") or []) - set(entry.get("declared_products") or [])
            if undeclared:
                rep.add("build", where, f"calls products {sorted(undeclared)} not declared in deploy/build.py FUNCTION_PRODUCTS[{f.fdir!r}]")
            full = entry.get("deps") == "full" or (code_dir / "msgspec").is_dir()
            if full and sys.version_info[:2] != (3, 12):
                rep.notes.append(f"{f.name}: dependencies are built for CPython 3.12; import not tried on "
                                 f"{sys.version_info[0]}.{sys.version_info[1]} (file and handler checked)")
                continue
            jobs.append((f, where, code_dir, [] if full else site))
        with ThreadPoolExecutor(max_workers=min(8, len(jobs) or 1)) as pool:
            results = list(pool.map(lambda j: (j, _import_probe(j[2], j[3])), jobs))
        for (f, where, _, _), (ok, msg) in results:
            if not ok:
                rep.add("build", where, msg)
        rep.checked["handlers_imported"] = sorted(j[0].name for j, (ok, _) in results if ok)
    finally:
        if tmp is not None:
            tmp.cleanup()


# ---------------------------------------------------------------------------------------------
# RAM
# ---------------------------------------------------------------------------------------------
def _load_policy(rep: Report, path: Path) -> dict | None:
    where = f"deploy/ram/{path.name}"
    if not path.is_file():
        rep.add("ram", where, "missing")
        return None
    text = path.read_text()
    for m in re.finditer(r"\$\{([^}]*)\}", text):
        if m.group(1) not in _POLICY_PLACEHOLDERS:
            rep.add("ram", where, f"unknown placeholder ${{{m.group(1)}}} (known: {', '.join(sorted(_POLICY_PLACEHOLDERS))})")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        rep.add("ram", where, f"not valid JSON: {exc}")
        return None
    if doc.get("Version") != "1" or not isinstance(doc.get("Statement"), list) or not doc["Statement"]:
        rep.add("ram", where, "a policy document needs Version \"1\" and a non-empty Statement list")
        return None
    for i, st in enumerate(doc["Statement"]):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny") or "Action" not in st:
            rep.add("ram", f"{where} Statement[{i}]", "needs Effect Allow|Deny and Action")
            continue
        for a in _as_list(st.get("Action")):
            pre, _, name = str(a).partition(":")
            if not name or pre not in _KNOWN_PREFIXES:
                rep.add("ram", f"{where} Statement[{i}]", f"action {a!r} has no known prefix ({', '.join(sorted(_KNOWN_PREFIXES))})")
            elif "*" in name:
                rep.add("ram", f"{where} Statement[{i}]", f"wildcard action {a!r}: list the actions")
        if "Principal" not in st and "Resource" not in st:
            rep.add("ram", f"{where} Statement[{i}]", "needs Resource")
    return doc


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v] if v is not None else []


def _allowed(doc: dict | None) -> dict[str, list[str]]:
    """action → resources, over the Allow statements."""
    out: dict[str, list[str]] = {}
    for st in (doc or {}).get("Statement") or []:
        if isinstance(st, dict) and st.get("Effect") == "Allow":
            for a in _as_list(st.get("Action")):
                out.setdefault(str(a), []).extend(str(r) for r in _as_list(st.get("Resource")))
    return out


def observed_calls(state_dir: Path) -> dict[tuple[str, str], int] | None:
    """``{(product, action): count}`` from the local cloud's call log, or ``None`` without one."""
    db = Path(state_dir) / "cloud.sqlite3"
    if not db.is_file():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT product, action, COUNT(*) FROM calls GROUP BY product, action").fetchall()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return {(p, a): n for p, a, n in rows}


def _check_trust(rep: Report, doc: dict | None, where: str, service: str) -> None:
    if doc is None:
        return
    ok = any(isinstance(st, dict) and st.get("Effect") == "Allow" and "sts:AssumeRole" in _as_list(st.get("Action"))
             and service in _as_list((st.get("Principal") or {}).get("Service")) for st in doc["Statement"])
    if not ok:
        rep.add("ram", where, f"must let {service} assume the role (sts:AssumeRole, Principal.Service)")


def _check_ram(root: Path, rep: Report, invoked: dict[str, list[str]], state_dir: Path | None) -> None:
    ram = root / "deploy" / "ram"
    fn_policy = _load_policy(rep, ram / "function-role-policy.json")
    flow_policy = _load_policy(rep, ram / "flow-role-policy.json")
    deployer = _load_policy(rep, ram / "deployer-policy.json")
    _check_trust(rep, _load_policy(rep, ram / "function-role-trust.json"), "deploy/ram/function-role-trust.json", "fc.aliyuncs.com")
    _check_trust(rep, _load_policy(rep, ram / "flow-role-trust.json"), "deploy/ram/flow-role-trust.json", "fnf.aliyuncs.com")

    # flow role: fc:InvokeFunction on exactly the functions the workflows invoke
    if flow_policy is not None:
        allowed = _allowed(flow_policy)
        where = "deploy/ram/flow-role-policy.json"
        for a in sorted(set(allowed) - {"fc:InvokeFunction"}):
            rep.add("ram", where, f"the flow role needs only fc:InvokeFunction; remove {a}")
        targets: set[str] = set()
        for r in allowed.get("fc:InvokeFunction", []):
            m = re.fullmatch(r"acs:fc:[^:]*:[^:]*:functions/([A-Za-z0-9_\-]+)(?:/\*)?", r)
            if not m:
                rep.add("ram", where, f"resource {r!r} is not one function (acs:fc:${{region}}:${{account_id}}:functions/<name>)")
            else:
                targets.add(m.group(1))
        for fn in sorted(set(invoked) - targets):
            rep.add("ram", where, f"missing fc:InvokeFunction on {fn} (invoked by {invoked[fn][0]})")
        for fn in sorted(targets - set(invoked)):
            rep.add("ram", where, f"fc:InvokeFunction on {fn}, which no workflow invokes: remove it")

    # function role: least privilege by observation
    allow_file = ram / "unobserved.json"
    allowances: dict[str, str] = {}
    if allow_file.is_file():
        try:
            allowances = dict(json.loads(allow_file.read_text()).get("allow") or {})
        except (ValueError, AttributeError) as exc:
            rep.add("ram", "deploy/ram/unobserved.json", f"not valid: {exc}")
    for a, why in allowances.items():
        if not str(why).strip():
            rep.add("ram", "deploy/ram/unobserved.json", f"{a}: give the reason it is allowed without being observed")
    fn_allowed = set(_allowed(fn_policy)) if fn_policy is not None else set()
    where = "deploy/ram/function-role-policy.json"
    for a in sorted(fn_allowed):
        if a.partition(":")[0] not in OBSERVABLE_PREFIXES and a not in allowances:
            rep.add("ram", where, f"{a} cannot be observed on the local cloud: list it with its reason in deploy/ram/unobserved.json, or remove it")
    for a in sorted(set(allowances) - fn_allowed):
        rep.add("ram", "deploy/ram/unobserved.json", f"{a} is listed but the function role does not allow it: remove it from the list")
    if state_dir is None:
        return
    calls = observed_calls(state_dir)
    if calls is None:
        rep.add("ram", str(state_dir), "no local cloud call log (cloud.sqlite3): run the observed run first, "
                f"`python -m deploy.observe --state-dir {state_dir}` on a fresh directory (or pass --skip-observation)")
        return
    runtime: dict[str, int] = {}
    deploy_plane: dict[str, int] = {}
    for (product, action), n in calls.items():
        prefix = RAM_PREFIX.get(product)
        if prefix is None or action in ("?", ""):
            rep.notes.append(f"call log: {product}:{action} ({n}x) is not a known product action; ignored")
            continue
        ram_action = f"{prefix}:{action}"
        if product == "fnf" and (action in FNF_DEPLOY_ACTIONS or action in FNF_OPERATOR_ACTIONS):
            deploy_plane[ram_action] = deploy_plane.get(ram_action, 0) + n
        else:
            runtime[ram_action] = runtime.get(ram_action, 0) + n
    rep.checked["observed_actions"] = sorted(runtime)
    rep.checked["observed_deploy_actions"] = sorted(deploy_plane)
    if not runtime:
        rep.add("ram", str(state_dir), "the call log holds no product calls: run the end-to-end job on this state directory first")
        return
    if fn_policy is not None:
        observable_allowed = {a for a in fn_allowed if a.partition(":")[0] in OBSERVABLE_PREFIXES}
        for a in sorted(set(runtime) - observable_allowed):
            rep.add("ram", where, f"missing {a}: called {runtime[a]}x during the observed run")
        for a in sorted(observable_allowed - set(runtime) - set(allowances)):
            rep.add("ram", where, f"extra {a}: never called in the observed run; remove it, or list it with "
                    "its reason in deploy/ram/unobserved.json")
        for a in sorted(set(allowances) & set(runtime)):
            rep.notes.append(f"{a} is listed in unobserved.json but was observed: the entry can go")
    if deployer is not None:
        dep_allowed = set(_allowed(deployer))
        for a in sorted(set(deploy_plane) - dep_allowed):
            rep.add("ram", "deploy/ram/deployer-policy.json", f"missing {a}: flow management/operator call observed {deploy_plane[a]}x")
