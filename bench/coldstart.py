"""Benchmark 3 — cold start per function (docs/DECISIONS.md §3 "cold start", §6; the import
costs behind it in §6.1).

For every ``functions/<dir>/``, ``runs`` rounds (after one warm-up round), each measurement in a
fresh interpreter (``python -c``), the functions interleaved within a round:

* ``sdk_ms`` — ``import`` of the SDK client module(s) of the products the function calls
  (``deploy/build.py`` ``FUNCTION_PRODUCTS`` → ``alibabacloud_<product>.client``) — the
  baseline: what any FC function using that SDK pays;
* ``cold_ms`` — then, in the *same* interpreter, ``import functions.<dir>.index`` on top: the
  handler plus its SDKs, what a cold instance pays before its first call;
* ``handler_ms`` — ``import functions.<dir>.index`` alone in another interpreter (the SDKs are
  imported lazily, so this is our code and its light dependencies only); ``sdk_loaded`` lists the
  SDK packages that import loaded (must be none).

``ratio`` = the median over the rounds of ``cold_ms / sdk_ms`` of one interpreter — both sides
measured side by side, so load on the machine hits them alike (budget 1.25: our code may add at most
a quarter to the SDK's own import); ``sdk_ms``/``cold_ms``/``handler_ms`` are the best of the rounds.
Times are ``time.perf_counter()`` around the imports inside the child (interpreter start excluded).
Bytecode: ``bytecode="cached"`` (default) gives the children a scratch ``PYTHONPYCACHEPREFIX`` and
clears ``PYTHONDONTWRITEBYTECODE``, so the warm-up round compiles every module once and the measured
rounds load our code *and* the SDK from bytecode alike; ``"inherit"`` keeps the caller's
environment (with ``PYTHONDONTWRITEBYTECODE=1`` our code is compiled at every import while the SDK
loads from pip's ``.pyc`` — the pessimistic figure). Package size: ``deploy/build.py`` into a
scratch directory — code (``index.py`` + ``shared/``) and, with ``deps="installed"``, the
installed size of the distributions the build
would ship (closure of the function's SDKs and third-party imports over ``Requires-Dist``, read
from this virtualenv's ``*.dist-info``); with ``deps="build"`` a full build (PyPI, target
CPython 3.12 manylinux) into ``build/`` and the size of ``build/<dir>/``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from shared.core.products import PRODUCTS

REPO = Path(__file__).resolve().parent.parent

#: product → the SDK module holding its ``Client`` (the product registry, ``shared.core.products``)
SDK_MODULES = {k: p.sdk_client_module for k, p in PRODUCTS.items()}

#: Top-level packages of the Alibaba Cloud SDKs and their runtime (a handler import loads none).
SDK_PACKAGES = ("alibabacloud_", "darabonba", "Tea")

_CHILD = """
import json, sys, time, importlib
sep = sys.argv.index("--")
first, then = sys.argv[1:sep], sys.argv[sep + 1:]
t0 = time.perf_counter()
for m in first:
    importlib.import_module(m)
t1 = time.perf_counter()
loaded = sorted({n.split(".")[0] for n in sys.modules if n.startswith(SDK_PACKAGES)})
for m in then:
    importlib.import_module(m)
t2 = time.perf_counter()
print(json.dumps([round((t1 - t0) * 1000, 2), round((t2 - t0) * 1000, 2), loaded]))
""".replace("SDK_PACKAGES", repr(SDK_PACKAGES))


def _build_tool():
    from deploy import build as mod
    return mod


def child_env(bytecode: str = "cached", pycache: str | None = None) -> dict[str, str]:
    """The children's environment: no ``ALBMTLS_*``; bytecode as the module doc says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    if bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache or tempfile.mkdtemp(prefix="albmtls-pyc-")
    elif bytecode != "inherit":
        raise ValueError("bytecode must be 'cached' or 'inherit'")
    return env


def import_times(first: list[str], then: list[str] | tuple[str, ...] = (), *, env: dict[str, str] | None = None
                 ) -> tuple[float, float, list[str]]:
    """One fresh interpreter: ms to import ``first``, ms to import ``first`` + ``then``, and the SDK
    packages loaded by ``first``."""
    p = subprocess.run([sys.executable, "-c", _CHILD, *first, "--", *then], cwd=REPO,
                       env=env if env is not None else child_env(), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"importing {[*first, *then]} failed: {p.stderr[-2000:]}")
    a, b, loaded = json.loads(p.stdout.strip().splitlines()[-1])
    return float(a), float(b), list(loaded)


def time_import(modules: list[str], runs: int, *, env: dict[str, str] | None = None) -> float:
    """Best of ``runs`` fresh interpreters (after a warm-up one): ms to import ``modules`` in order."""
    env = env if env is not None else child_env()
    times = [import_times(modules, env=env)[0] for _ in range(runs + 1)]
    return min(times[1:] or times)


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def package_sizes(functions: list[str], deps: str = "installed") -> dict[str, dict[str, Any]]:
    """Per function: ``code_kib``, ``deps_kib``, ``total_kib`` and ``distributions`` (see module doc)."""
    tb = _build_tool()
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


def run(*, runs: int = 5, functions: list[str] | None = None, deps: str = "installed",
        bytecode: str = "cached") -> dict[str, Any]:
    """Figures for every function (see module doc)."""
    tb = _build_tool()
    names = functions or tb.function_dirs(REPO)
    sizes = package_sizes(names, deps=deps)
    plan = {fn: [SDK_MODULES[p] for p in sorted(set(tb.FUNCTION_PRODUCTS.get(fn, ()))) if p in SDK_MODULES]
            for fn in names}
    samples: dict[str, dict[str, list[float]]] = {fn: {"sdk": [], "cold": [], "handler": [], "ratio": []}
                                                  for fn in names}
    loaded: dict[str, set[str]] = {fn: set() for fn in names}
    with tempfile.TemporaryDirectory(prefix="albmtls-pyc-") as pyc:
        env = child_env(bytecode, pyc)
        for rnd in range(runs + 1):          # round 0 only fills the bytecode and page caches
            for fn in names:
                handler = f"functions.{fn}.index"
                h_ms, _, sdk_pkgs = import_times([handler], env=env)
                loaded[fn].update(sdk_pkgs)
                if plan[fn]:
                    s_ms, c_ms, _ = import_times(plan[fn], [handler], env=env)
                if rnd:
                    samples[fn]["handler"].append(h_ms)
                    if plan[fn]:
                        samples[fn]["sdk"].append(s_ms)
                        samples[fn]["cold"].append(c_ms)
                        samples[fn]["ratio"].append(c_ms / s_ms)
    rows: dict[str, Any] = {}
    for fn in names:
        sm = samples[fn]
        has_sdk = bool(sm["sdk"])
        rows[fn] = {"products": sorted(set(tb.FUNCTION_PRODUCTS.get(fn, ()))),
                    "sdk_ms": min(sm["sdk"]) if has_sdk else None,
                    "handler_ms": min(sm["handler"]),
                    "cold_ms": min(sm["cold"]) if has_sdk else min(sm["handler"]),
                    "ratio": round(statistics.median(sm["ratio"]), 3) if has_sdk else None,
                    "ratios": [round(r, 3) for r in sm["ratio"]],
                    "handler_ratio": round(min(sm["handler"]) / min(sm["sdk"]), 3) if has_sdk else None,
                    "sdk_loaded": sorted(loaded[fn]),
                    "package": sizes.get(fn)}
    worst = max((r["ratio"] for r in rows.values() if r["ratio"] is not None), default=None)
    return {"runs": runs, "bytecode": bytecode, "budget": 1.25, "worst_ratio": worst, "functions": rows}


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
