"""Benchmark 3 — cold start per function (DESIGN §3 "cold start", §6; method of
reference/libraries.md §4).

For every ``functions/<dir>/``, each in a fresh interpreter (``python -c``), best of ``runs``:

* ``sdk_ms`` — ``import`` of the SDK client module(s) of the products the function calls
  (``tools/build.py`` ``FUNCTION_PRODUCTS`` → ``alibabacloud_<product>.client``) — the
  baseline: what any FC function using that SDK pays;
* ``handler_ms`` — ``import functions.<dir>.index`` (the SDKs are imported lazily, so this is our
  code and its light dependencies only);
* ``cold_ms`` — the handler import *plus* the same SDK imports in the same interpreter: what a
  cold instance pays before its first call;

``ratio = cold_ms / sdk_ms`` (budget 1.25: our code may add at most a quarter to the SDK's own
import). Times are ``time.perf_counter()`` around the imports inside the child (interpreter start
excluded). Package size: ``tools/build.py`` into a scratch directory — code (``index.py`` +
``shared/``) and, with ``deps="installed"``, the installed size of the distributions the build
would ship (closure of the function's SDKs and third-party imports over ``Requires-Dist``, read
from this virtualenv's ``*.dist-info``); with ``deps="build"`` a full build (PyPI, target
CPython 3.12 manylinux) into ``build/`` and the size of ``build/<dir>/``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

SDK_MODULES = {
    "alb": "alibabacloud_alb20200616.client", "cas": "alibabacloud_cas20200407.client",
    "pca": "alibabacloud_cas20200630.client", "alidns": "alibabacloud_alidns20150109.client",
    "kms": "alibabacloud_kms20160120.client", "fnf": "alibabacloud_fnf20190315.client",
}

_CHILD = """
import sys, time, importlib
mods = sys.argv[1:]
t0 = time.perf_counter()
for m in mods:
    importlib.import_module(m)
print(round((time.perf_counter() - t0) * 1000, 2))
"""


def _tools_build():
    spec = importlib.util.spec_from_file_location("albmtls_tools_build", REPO / "tools" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def time_import(modules: list[str], runs: int) -> float:
    """Best of ``runs`` fresh interpreters: ms to import ``modules`` in order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    best = float("inf")
    for i in range(runs + 1):   # the first run only warms the bytecode cache and the page cache
        p = subprocess.run([sys.executable, "-c", _CHILD, *modules], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"importing {modules} failed: {p.stderr[-2000:]}")
        if i:
            best = min(best, float(p.stdout.strip().splitlines()[-1]))
    return best


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def package_sizes(functions: list[str], deps: str = "installed") -> dict[str, dict[str, Any]]:
    """Per function: ``code_kib``, ``deps_kib``, ``total_kib`` and ``distributions`` (see module doc)."""
    tb = _tools_build()
    out: dict[str, dict[str, Any]] = {}
    if deps == "build":
        manifest = tb.build(REPO, REPO / "build", deps=True, only=functions, log=lambda m: None)
        for fn in functions:
            total = _tree_bytes(REPO / "build" / fn)
            with tempfile.TemporaryDirectory() as d:
                tb.build(REPO, Path(d), deps=False, only=[fn], log=lambda m: None)
                code = _tree_bytes(Path(d) / fn)
            out[fn] = {"code_kib": round(code / 1024), "deps_kib": round((total - code) / 1024),
                       "total_kib": round(total / 1024),
                       "distributions": len(manifest["functions"][fn]["distributions"]), "deps": "build"}
        return out
    site = Path(sysconfig.get_paths()["purelib"])
    dists = tb.read_dists(site)
    module_to_dist = {t: n for n, d in dists.items() for t in d["top_level"]}
    with tempfile.TemporaryDirectory() as d:
        manifest = tb.build(REPO, Path(d), deps=False, only=functions, log=lambda m: None)
        for fn in functions:
            entry = manifest["functions"][fn]
            code = _tree_bytes(Path(d) / fn)
            roots = {tb.PRODUCT_SDKS[p] for p in entry["products"]}
            if roots:
                roots |= set(tb.CLIENT_BASE)
            roots |= {module_to_dist[m] for m in entry["third_party_imports"] if m in module_to_dist}
            chosen, _missing = tb.select_dists(dists, roots)
            dep_bytes = 0
            for n in chosen:
                for f in dists[n]["files"]:
                    p = site / f
                    if p.is_file() and "__pycache__" not in p.parts and not f.endswith(".pyc"):
                        dep_bytes += p.stat().st_size
            out[fn] = {"code_kib": round(code / 1024), "deps_kib": round(dep_bytes / 1024),
                       "total_kib": round((code + dep_bytes) / 1024), "distributions": len(chosen),
                       "deps": "installed"}
    return out


def run(*, runs: int = 5, functions: list[str] | None = None, deps: str = "installed") -> dict[str, Any]:
    """Figures for every function (see module doc)."""
    tb = _tools_build()
    names = functions or tb.function_dirs(REPO)
    sizes = package_sizes(names, deps=deps)
    rows: dict[str, Any] = {}
    for fn in names:
        products = sorted(set(tb.FUNCTION_PRODUCTS.get(fn, ())))
        sdks = [SDK_MODULES[p] for p in products if p in SDK_MODULES]
        handler = f"functions.{fn}.index"
        sdk_ms = time_import(sdks, runs) if sdks else None
        handler_ms = time_import([handler], runs)
        cold_ms = time_import([handler, *sdks], runs)
        rows[fn] = {"products": products, "sdk_ms": sdk_ms, "handler_ms": handler_ms, "cold_ms": cold_ms,
                    "ratio": round(cold_ms / sdk_ms, 3) if sdk_ms else None,
                    "handler_ratio": round(handler_ms / sdk_ms, 3) if sdk_ms else None,
                    "package": sizes.get(fn)}
    worst = max((r["ratio"] for r in rows.values() if r["ratio"] is not None), default=None)
    return {"runs": runs, "budget": 1.25, "worst_ratio": worst, "functions": rows}


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
