"""Step use cases: ``run(inp, ctx) -> result`` for each FC function, plus their pure plans.

Every step follows one path (DESIGN.md §2): event → input → observe (read-only calls) → decide
(pure plan) → act (idempotent writes, counted) → read back → result. Modules are imported by the
function that needs them only (``functions/<name>/index.py``); this package imports nothing.
"""
