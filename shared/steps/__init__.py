"""Step use cases: ``run(event, ctx) -> result`` for each FC function (``context`` is what they get).

Every step has one shape (docs/DECISIONS.md §2; cert-manager's controllers): ``gather()``
reads a frozen observation (no decisions) → a named chain of pure checks from ``shared.policy``
returns the first violation (the preflight runs the same chains) → a pure plan, computed once →
apply the planned writes (idempotent, counted) → read back and compare with the plan → result.
Modules are imported by the function that needs them only (``functions/<name>/index.py``); this
package imports nothing.
"""
