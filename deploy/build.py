#!/usr/bin/env python3
"""Package every FC function into ``build/<dir>/`` — the ``code`` directories of ``s.yaml``.

    python3 deploy/build.py                    # all functions, with their runtime dependencies
    python3 deploy/build.py --no-deps          # code only (fast, offline): index.py + shared/
    python3 deploy/build.py --only preflight --only health_check
    python3 deploy/build.py --json             # one JSON document (the manifest) on stdout

Layout of ``build/<dir>/`` (what FC unpacks into ``/code``; ``/code`` is on ``sys.path``)::

    index.py            # functions/<dir>/index.py (``handler: index.handler``) and anything else
                        # in that directory except tests and caches
    shared/             # the shared library package (no tests, no caches)
    <deps>              # only the distributions this function needs (below), for CPython 3.12 on
                        # manylinux2014_x86_64 — never the local cloud, the CLI, tests or dev tools

Dependencies. ``requirements.txt`` is installed once into a cache ``build/.deps/<key>/`` (``key``
= hash of requirements.txt and the target platform), in two steps because several Alibaba Cloud
SDK packages publish only source distributions, which ``pip install --platform`` refuses:

1. ``pip wheel -r requirements.txt -w build/.deps/wheels`` with the local interpreter: turns
   the pure-Python sdists into ``py3-none-any`` wheels (platform-independent);
2. ``pip install --target build/.deps/<key> --platform manylinux2014_x86_64 --python-version 3.12
   --implementation cp --only-binary=:all: --find-links build/.deps/wheels -r requirements.txt``.

Then each function gets the files (from each distribution's ``RECORD``, hard-linked when
possible) of the distributions it needs: the closure, over ``Requires-Dist``, of

* the third-party modules imported (statically, also lazily inside functions) by its own files and
  the ``shared`` modules they import, transitively;
* the SDK of every product whose adapter module it reaches (``shared.adapters.<product>``, the
  product registry's keys) or that it asks a client for with a literal (``ctx.client("alb")``,
  ``get_client("pca", …)``, ``make_client``, ``sdk_module``); a non-literal argument that is
  neither a pass-through parameter nor an adapter's own ``self.product`` makes the function get
  every SDK.

``FUNCTION_PRODUCTS`` below declares the products each function is expected to use; the build
uses the union of declared and detected, and ``albmtls check-deploy`` reports a detected product
that is not declared (so the table stays true). ``build/manifest.json`` records what went where.

Stdlib only (plus ``packaging`` when importable, else pip's vendored copy) so that Serverless
Devs' ``pre-deploy`` action can run it with any ``python3``; the product list comes from
``shared.core.products`` (stdlib only too).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and not __package__:
    # Run as a file (`python3 deploy/build.py`, s.yaml's pre-deploy action): the import root is
    # the repository, not deploy/ (which Python put first on the path).
    sys.path[0] = str(ROOT)

from shared.core.products import PRODUCTS  # noqa: E402 — after the import root is set

TARGET_PLATFORM = "manylinux2014_x86_64"
TARGET_PYTHON = "3.12"
TARGET_IMPL = "cp"

#: product → SDK distribution (PEP 503 normalised), from the product registry
PRODUCT_SDKS: dict[str, str] = {k: p.sdk_distribution for k, p in PRODUCTS.items()}
#: every function that talks to any product needs these (shared.adapters.clients builds the clients)
CLIENT_BASE = ("alibabacloud-tea-openapi", "alibabacloud-credentials")

#: function dir → products it is expected to call (declared; see module doc).
FUNCTION_PRODUCTS: dict[str, tuple[str, ...]] = {
    # + fnf: the CA is checked by a check-only order in the issuing lane (shared.steps.lane_client);
    # + pca: preflight.check (the plan `albmtls provision --target cloud` shows before its first write,
    # run in the CLI's process) reads the CA directly — the deployed run never does
    "preflight": ("alb", "cas", "alidns", "kms", "fnf", "pca"),
    "record_desired_state": ("kms",),
    # the own CA: its keys (KMS) and its upload to the certificate repository (CAS 2020-04-07); pca
    # only because the own CA answers with the PCA adapter's record types (it never calls the PCA)
    "ensure_own_ca": ("kms", "cas", "pca"),
    # places the order in the issuing lane and follows it (fnf)
    "issue_client_cert": ("fnf", "kms"),
    # + fnf: the sub-CA's ALB id comes from the run's CA check in the issuing lane; pca: an own CA's
    # record types (its trusted upload)
    "enable_mutual_auth": ("alb", "cas", "pca", "kms", "fnf"),
    "create_cname": ("alb", "alidns"),
    # + alidns (the zone's name servers for the probe) and pca (loads the client PFX via issuance)
    "health_check": ("alb", "kms", "alidns", "pca"),
    # places the rotation order (fnf); shared.steps.rotation also holds the report (alb, cas, pca, kms);
    # then an own CA's switch after a rekey (shared.steps.ownca_rekey: kms, and alb to move the listeners;
    # + actiontrail/sts: reached through its renewal path's imports, never called by the switch)
    "rotation_scan": ("fnf", "pca", "kms", "alb", "cas", "actiontrail", "sts"),
    # the lane: issuance and renewal (pca, kms), its turn (fnf), the rotation's listener warnings (alb, cas);
    # + actiontrail/sts: a system holder's first read of its secrets, one LookupEvents query per rotation
    # slice, and who the function is (GetCallerIdentity) when a holder names no ram_principal
    # (shared.steps.reads, from shared.steps.rotate)
    "issuer": ("pca", "kms", "fnf", "alb", "cas", "actiontrail", "sts"),
    # revoke/restore/reconcile: the CA's list and revocation, the records and secrets; restore = issuance;
    # + fnf: its PCA calls keep to the issuing lane's reserve while an order runs (ListExecutions)
    "offboard_client": ("pca", "kms", "fnf"),
    # the drift timer reads the listeners as enable_mutual_auth/create_cname do (alb, cas, kms, alidns) and
    # starts a provision execution for auto_repair listeners (fnf); + pca: drift_report (not the timer's
    # path) builds its context with shared.steps.rotation.make_context, imported when called
    # (+ actiontrail/sts likewise, through shared.steps.rotation)
    "drift_check": ("alb", "cas", "kms", "alidns", "fnf", "pca", "actiontrail", "sts"),
    # fnf for the provisions; POST /rotations and GET /certificates run shared.steps.rotation (+ actiontrail/
    # sts likewise, through its own CA switch's imports); the fleet routes (plan, drift, inventory) read like
    # the preflight (+ alidns)
    "provision_api": ("fnf", "alb", "cas", "kms", "pca", "alidns", "actiontrail", "sts"),
    # the holder's record, the client's meta (issuance helpers: pca) and the notification config; fnf
    # because the holder's access record is read through shared.steps.offboarding, whose PCA reads
    # look at the issuing lane (ListExecutions) — deliver and download never call it
    "deliver": ("kms", "pca", "fnf"),
    # the download page: the client's secrets and its delivery record only (fnf: as deliver)
    "download": ("kms", "pca", "fnf"),
}

_CLIENT_CALLS = {"client", "get_client", "make_client", "sdk_module"}
_SKIP_NAMES = {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_MARKER_ENV = {
    "python_version": TARGET_PYTHON, "python_full_version": f"{TARGET_PYTHON}.0",
    "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
    "os_name": "posix", "platform_release": "", "platform_version": "", "implementation_version": f"{TARGET_PYTHON}.0",
    "extra": "",
}


class BuildError(Exception):
    """The build cannot go on; the message says why."""


def norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def function_dirs(root: Path) -> list[str]:
    """Every ``functions/<dir>/`` holding an ``index.py``, sorted."""
    base = root / "functions"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "index.py").is_file())


# --------------------------------------------------------------------------------------------------
# static analysis: which third-party modules and which products a function needs
# --------------------------------------------------------------------------------------------------
class _Scan(ast.NodeVisitor):
    def __init__(self) -> None:
        self.imports: list[tuple[str, int, list[str]]] = []   # (module, level, names)
        self.products: set[str] = set()
        self.dynamic: list[str] = []
        self._params: list[set[str]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.imports.append((a.name, 0, []))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.imports.append((node.module or "", node.level, [a.name for a in node.names]))

    def _func(self, node: Any) -> None:
        a = node.args
        names = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
        if a.vararg:
            names.add(a.vararg.arg)
        if a.kwarg:
            names.add(a.kwarg.arg)
        self._params.append(names)
        self.generic_visit(node)
        self._params.pop()

    visit_FunctionDef = _func
    visit_AsyncFunctionDef = _func
    visit_Lambda = _func

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in _CLIENT_CALLS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value in PRODUCT_SDKS:
                    self.products.add(arg.value)
            elif isinstance(arg, ast.Name) and self._params and arg.id in self._params[-1]:
                # pass-through plumbing (e.g. shared.adapters.clients.make_client(product, …)): callers are scanned
                pass
            elif (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "self"
                  and arg.attr == "product"):
                pass          # shared.adapters.base.Adapter: the adapter module's import names the product
            else:
                self.dynamic.append(f"line {node.lineno}: {name}({ast.unparse(arg)})")
        self.generic_visit(node)


def analyse(root: Path, fdir: str) -> dict[str, Any]:
    """Modules, products and third-party imports of ``functions/<fdir>`` and the ``shared``
    modules it reaches. Returns ``{"files", "third_party", "products", "dynamic", "local_errors"}``."""
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names) | {"__future__"}
    fbase = root / "functions" / fdir
    todo = sorted(fbase.glob("*.py"))
    seen: set[Path] = set()
    third: set[str] = set()
    products: set[str] = set()
    dynamic: list[str] = []
    errors: list[str] = []

    def shared_file(dotted: str) -> Path | None:
        p = root.joinpath(*dotted.split("."))
        if p.with_suffix(".py").is_file():
            return p.with_suffix(".py")
        if (p / "__init__.py").is_file():
            return p / "__init__.py"
        return None

    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError) as exc:
            errors.append(f"{path.relative_to(root)}: cannot parse ({exc})")
            continue
        sc = _Scan()
        sc.visit(tree)
        products |= sc.products
        dynamic += [f"{path.relative_to(root)} {d}" for d in sc.dynamic]
        rel = path.relative_to(root)
        for mod, level, names in sc.imports:
            if level:
                if rel.parts[0] == "functions":
                    errors.append(f"{rel}: relative import (level {level}) breaks once index.py is a top-level "
                                  "module in /code")
                    continue
                pkg = list(rel.parts[:-1])[: len(rel.parts) - level]
                mod = ".".join(pkg + ([mod] if mod else []))
            top = mod.split(".")[0]
            if top == "shared":
                cands = [mod] + [f"{mod}.{n}" for n in names]
                for c in cands:     # a product adapter reached: that product's SDK
                    head, _, key = c.rpartition(".")
                    if head == "shared.adapters" and key in PRODUCT_SDKS:
                        products.add(key)
                parts = mod.split(".")
                cands += [".".join(parts[:i]) for i in range(1, len(parts))]   # parent packages run too
                for c in cands:
                    f = shared_file(c)
                    if f is not None and f not in seen:
                        todo.append(f)
            elif top in ("localcloud", "tests", "functions"):
                errors.append(f"{rel}: imports {mod!r}, which is not deployed")
            elif top and top not in stdlib:
                third.add(top)
    return {"files": sorted(str(p.relative_to(root)) for p in seen), "third_party": sorted(third),
            "products": sorted(products), "dynamic": dynamic, "local_errors": errors}


# --------------------------------------------------------------------------------------------------
# dependency cache and per-function selection
# --------------------------------------------------------------------------------------------------
def _requirement_cls() -> Any:
    """``packaging``'s ``Requirement`` (pip always vendors a copy when ``packaging`` is absent)."""
    import importlib
    try:
        return importlib.import_module("packaging.requirements").Requirement
    except ImportError:  # pragma: no cover
        return importlib.import_module("pip._vendor.packaging.requirements").Requirement


def cache_key(root: Path) -> str:
    h = hashlib.sha256((root / "requirements.txt").read_bytes())
    h.update(f"{TARGET_PLATFORM}|{TARGET_PYTHON}|{TARGET_IMPL}".encode())
    return h.hexdigest()[:12]


def _pip(args: list[str], log: Any) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"pip failed ({proc.returncode}):\n{tail}")


def ensure_deps(root: Path, out: Path, log: Any) -> Path:
    """The dependency cache ``out/.deps/<key>/`` (installed once; see module doc)."""
    cache = out / ".deps" / cache_key(root)
    if (cache / ".complete").is_file():
        log(f"dependencies: cached in {cache}")
        return cache
    wheels = out / ".deps" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    req = str(root / "requirements.txt")
    _pip(["wheel", "--quiet", "-w", str(wheels), "-r", req], log)
    if cache.exists():
        shutil.rmtree(cache)
    _pip(["install", "--quiet", "--no-compile", "--target", str(cache), "--platform", TARGET_PLATFORM,
          "--python-version", TARGET_PYTHON, "--implementation", TARGET_IMPL, "--only-binary=:all:",
          "--find-links", str(wheels), "-r", req], log)
    (cache / ".complete").write_text("ok\n")
    return cache


def host_deps_key(root: Path) -> str:
    """Cache key of :func:`ensure_host_deps`: requirements.txt and this interpreter/platform."""
    import platform
    h = hashlib.sha256((root / "requirements.txt").read_bytes())
    h.update(f"{sys.implementation.cache_tag}|{platform.machine()}|{sys.platform}".encode())
    return h.hexdigest()[:12]


def ensure_host_deps(root: Path, out: Path, log: Any) -> Path:
    """``requirements.txt`` installed for **this** interpreter into ``out/.deps-test/<key>/``
    (once; ``.complete`` marks it). For trying a code-only package (``--no-deps``) on a machine
    without CPython 3.12: the full build's wheels are cp312/manylinux and do not import here.
    Raises :class:`BuildError` (with pip's last lines) when pip fails, e.g. without PyPI."""
    cache = out / ".deps-test" / host_deps_key(root)
    if (cache / ".complete").is_file():
        return cache
    if cache.exists():
        shutil.rmtree(cache)
    _pip(["install", "--quiet", "--no-compile", "--target", str(cache), "-r", str(root / "requirements.txt")], log)
    (cache / ".complete").write_text("ok\n")
    return cache


def read_dists(cache: Path) -> dict[str, dict[str, Any]]:
    """``{normalised name: {"name", "files", "requires", "top_level"}}`` of the cache."""
    Requirement = _requirement_cls()
    dists: dict[str, dict[str, Any]] = {}
    for info in sorted(cache.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^Name:\s*(.+)$", meta, re.M)
        if not name:
            continue
        requires = []
        for line in re.findall(r"^Requires-Dist:\s*(.+)$", meta, re.M):
            r = Requirement(line.strip())
            if r.marker is None or r.marker.evaluate(dict(_MARKER_ENV)):
                requires.append(norm(r.name))
        files = []
        record = info / "RECORD"
        if record.is_file():
            for row in record.read_text(encoding="utf-8").splitlines():
                p = row.split(",")[0]
                if p and not p.startswith("..") and not p.startswith("bin/") and "__pycache__" not in p:
                    files.append(p)
        top = {f.split("/")[0].removesuffix(".py") for f in files
               if not f.split("/")[0].endswith((".dist-info", ".data", ".pth"))}
        dists[norm(name.group(1).strip())] = {"name": name.group(1).strip(), "files": files,
                                              "requires": requires, "top_level": sorted(top)}
    return dists


def select_dists(dists: dict[str, dict[str, Any]], roots: set[str]) -> tuple[list[str], list[str]]:
    """Closure of ``roots`` over Requires-Dist → (sorted names present, names missing)."""
    have, missing, todo = set(), set(), list(roots)
    while todo:
        n = norm(todo.pop())
        if n in have or n in missing:
            continue
        if n not in dists:
            missing.add(n)
            continue
        have.add(n)
        todo.extend(dists[n]["requires"])
    return sorted(have), sorted(missing)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if any(part in _SKIP_NAMES for part in rel.parts) or p.name.endswith(_SKIP_SUFFIXES):
            continue
        if p.is_dir():
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst / rel)


# --------------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------------
def build(root: Path = ROOT, out: Path | None = None, *, deps: bool = True, only: list[str] | None = None,
          log: Any = None) -> dict[str, Any]:
    """Build the functions; returns the manifest (also written to ``out/manifest.json``)."""
    root = root.resolve()
    out = (out or root / "build").resolve()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    available = function_dirs(root)
    names = only or available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise BuildError(f"no functions/<dir>/index.py for: {', '.join(unknown)} "
                         f"(have: {', '.join(available) or 'none'})")
    if not (root / "shared" / "__init__.py").is_file():
        raise BuildError(f"{root / 'shared'} is not a package")
    out.mkdir(parents=True, exist_ok=True)
    cache = ensure_deps(root, out, log) if deps else None
    dists = read_dists(cache) if cache else {}
    module_to_dist = {t: n for n, d in dists.items() for t in d["top_level"]}
    manifest_path = out / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    except ValueError:
        manifest = {}
    manifest.setdefault("functions", {})
    manifest["target"] = {"platform": TARGET_PLATFORM, "python": TARGET_PYTHON, "implementation": TARGET_IMPL}
    for fdir in names:
        dst = out / fdir
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        _copy_tree(root / "functions" / fdir, dst)
        _copy_tree(root / "shared", dst / "shared")
        info = analyse(root, fdir)
        declared = set(FUNCTION_PRODUCTS.get(fdir, ()))
        products = set(info["products"]) | declared
        if info["dynamic"]:
            products = set(PRODUCT_SDKS)
        entry: dict[str, Any] = {
            "function_dir": fdir, "deps": "full" if deps else "none",
            "products": sorted(products), "declared_products": sorted(declared),
            "detected_products": info["products"], "dynamic_client_calls": info["dynamic"],
            "third_party_imports": info["third_party"], "problems": list(info["local_errors"]),
            "distributions": [],
        }
        if cache is not None:
            roots = {PRODUCT_SDKS[p] for p in products}
            if products:
                roots |= set(CLIENT_BASE)
            for mod in info["third_party"]:
                if mod in module_to_dist:
                    roots.add(module_to_dist[mod])
                else:
                    entry["problems"].append(f"module {mod!r} is imported but no distribution in requirements.txt "
                                             "provides it")
            chosen, missing = select_dists(dists, roots)
            entry["problems"] += [f"distribution {m!r} is required but not installed" for m in missing]
            for n in chosen:
                for f in dists[n]["files"]:
                    src = cache / f
                    if src.is_file():
                        _link(src, dst / f)
            entry["distributions"] = [dists[n]["name"] for n in chosen]
        manifest["functions"][fdir] = entry
        log(f"built {dst.relative_to(out.parent) if out.parent in dst.parents else dst}: "
            f"{len(entry['distributions'])} distributions, products {', '.join(entry['products']) or '-'}"
            + (f"; PROBLEMS: {'; '.join(entry['problems'])}" if entry["problems"] else ""))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Package the FC functions into build/<dir>/ (see the module doc).")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: <root>/build)")
    ap.add_argument("--no-deps", dest="deps", action="store_false",
                    help="code only: index.py + shared/, no dependencies")
    ap.add_argument("--only", action="append", default=None, metavar="DIR",
                    help="build only functions/DIR (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the manifest as one JSON document")
    a = ap.parse_args(argv)
    try:
        manifest = build(a.root, a.out, deps=a.deps, only=a.only)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(manifest, indent=2))
    bad = {k: v["problems"] for k, v in manifest["functions"].items() if v["problems"] and (not a.only or k in a.only)}
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
