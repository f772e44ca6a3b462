"""The ``build`` check: each function's code directory (a fresh code-only build, or the existing
``build/``) holds a handler that imports on its own, without ``localcloud`` or tests.

Not to be confused with :mod:`deploy.build`, the build tool this check runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploy.check.report import Report
    from deploy.check.syaml import FcResource


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


def check_build(root: Path, rep: Report, fcs: list[FcResource], build: bool) -> None:
    tool = _load_build_tool()
    todo = [f for f in fcs if f.fdir and (root / "functions" / f.fdir / "index.py").is_file()]
    tmp: tempfile.TemporaryDirectory | None = None
    manifest: dict[str, Any] = {}
    if build:
        tmp = tempfile.TemporaryDirectory(prefix="albmtls-check-build-")
        out = Path(tmp.name)
        try:
            if todo:
                only = sorted({f.fdir for f in todo if f.fdir})
                manifest = tool.build(root, out, deps=False, only=only, log=lambda m: None)
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
                rep.add("build", where, f"calls products {sorted(undeclared)} not declared in deploy/build.py "
                                        f"FUNCTION_PRODUCTS[{f.fdir!r}]")
            full = entry.get("deps") == "full" or (code_dir / "msgspec").is_dir()
            if full and sys.version_info[:2] != (3, 12):
                rep.notes.append(f"{f.name}: dependencies are built for CPython 3.12; import not tried on "
                                 f"{sys.version_info[0]}.{sys.version_info[1]} (file and handler checked)")
                continue
            jobs.append((f, where, code_dir, [] if full else site))
        with ThreadPoolExecutor(max_workers=min(8, len(jobs) or 1)) as pool:
            results = list(pool.map(lambda j: (j, _import_probe(j[2], j[3])), jobs))
        for (_, where, _, _), (ok, msg) in results:
            if not ok:
                rep.add("build", where, msg)
        rep.checked["handlers_imported"] = sorted(j[0].name for j, (ok, _) in results if ok)
    finally:
        if tmp is not None:
            tmp.cleanup()

