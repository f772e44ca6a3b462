"""The ``s.yaml`` check: variables resolved offline, fc3 props against the component's schema,
flow resources, nothing account-specific (see :mod:`deploy.check` for the whole list)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from deploy.check.report import Report

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "deploy" / "schema" / "fc3-schema.json"
FUNCTION_PREFIX = "albmtls-"
#: regions the Serverless Devs ``flow`` component accepts (hard-coded in its source: docs/SERVERLESS.md §3.3)
FLOW_REGIONS = ("cn-beijing", "cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-shenzhen",
                "ap-southeast-1", "us-west-1", "cn-heyuan-acdr-1")

_VAR = re.compile(r"\$\{([^{}]*)\}")
_ENV_CALL = re.compile(r"""^env\(\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?\s*(?:,\s*['"](.*)['"]\s*)?\)$""")
_ACCOUNT_LIKE = [(re.compile(r"(?<![\w.])\d{16}(?![\w.])"), "a 16-digit account id"),
                 (re.compile(r"acs:ram::\d+:"), "a role ARN with an account id"),
                 (re.compile(r"\bLTAI[0-9A-Za-z]{12,}"), "an AccessKey id")]


class Resolver:
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


@dataclass
class FcResource:
    key: str
    name: str
    props: dict[str, Any]
    code: str | None
    fdir: str | None


def check_syaml(root: Path, rep: Report, env: Mapping[str, str],
                schema_file: Path) -> tuple[list[FcResource], dict[str, dict]]:
    import yaml
    path = root / "s.yaml"
    fcs: list[FcResource] = []
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
        rep.add("s.yaml", "actions.pre-deploy",
                "no pre-deploy action running the build (python3 deploy/build.py or make build)")
    try:
        resolver = Resolver(doc, env, rep.notes)
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
    triggers = {f.name: str((t.get("triggerConfig") or {}).get("authType")) for f in fcs
                for t in (f.props.get("triggers") or []) if isinstance(t, dict) and t.get("triggerType") == "http"}
    rep.checked["http_triggers"] = triggers
    for fn, auths in HTTP_TRIGGER_AUTH.items():
        if fn not in triggers:
            rep.add("s.yaml", fn, f"needs its HTTP trigger (authType {' or '.join(auths)})")
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
               known_props: set[str], names: dict[str, str]) -> FcResource:
    for err in sorted(validator.iter_errors(props), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in err.absolute_path) or "props"
        rep.add("s.yaml", f"{where}.props.{loc}".rstrip("."), f"schema: {err.message}")
    for k in props:
        if k not in known_props:
            hint = " (did you mean environmentVariables?)" if k in ("environment", "env") else ""
            rep.add("s.yaml", f"{where}.props.{k}", f"not an fc3 prop; the component would ignore it{hint}")
    fn_name = props.get("functionName")
    name = fn_name if isinstance(fn_name, str) else ""
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
            rep.add("s.yaml", f"{where}.props.code",
                    f"{code} does not match {name} (expected ./build/{function_dir_for(name)})")
        if not (root / "functions" / fdir / "index.py").is_file():
            rep.add("s.yaml", f"{where} ({name})", f"functions/{fdir}/index.py is missing")
    if not props.get("role"):
        rep.add("s.yaml", f"{where}.props.role",
                "missing: the function needs its RAM role (deploy/ram/function-role-policy.json)")
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
        if ttype == "http" and isinstance(cfg, dict):
            _check_http_auth(rep, tw, name, cfg)
    return FcResource(key=where, name=name, props=props, code=code, fdir=fdir)


#: The HTTP triggers and the authType each must have (docs/DELIVERY.md, docs/SERVERLESS.md §2.4):
#: the provisioning API is signed (``function``, or ``jwt`` for callers outside RAM); the download
#: page alone is ``anonymous`` — its one-time token is the credential and it serves nothing else.
HTTP_TRIGGER_AUTH: dict[str, tuple[str, ...]] = {
    "albmtls-provision-api": ("function", "jwt"),
    "albmtls-download": ("anonymous",),
}


def _check_http_auth(rep: Report, where: str, function: str, cfg: dict) -> None:
    auth = cfg.get("authType")
    allowed = HTTP_TRIGGER_AUTH.get(function)
    if allowed is None:
        rep.add("s.yaml", where, f"{function} must not have an HTTP trigger (HTTP triggers: "
                f"{', '.join(sorted(HTTP_TRIGGER_AUTH))})")
    elif auth not in allowed:
        why = ("lets anyone provision; use function (signed) or jwt" if auth == "anonymous" else
               "the download page must be reachable from a link in an email: anonymous (the token is the credential)")
        rep.add("s.yaml", where, f"authType {auth!r} on {function}: {why}")
    methods = {str(m).upper() for m in cfg.get("methods") or []}
    if function == "albmtls-download" and not methods <= {"GET", "POST", "HEAD"}:
        rep.add("s.yaml", where, f"the download trigger serves GET and POST only, not {sorted(methods)}")


def _check_flow(root: Path, rep: Report, where: str, props: dict, flows: dict[str, dict]) -> None:
    from localcloud.flow.definition import DefinitionError, load_definition
    name = props.get("name")
    if props.get("region") not in FLOW_REGIONS:
        rep.add("s.yaml", f"{where}.props.region",
                f"{props.get('region')!r} is not a region the flow component accepts ({', '.join(FLOW_REGIONS)})")
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

