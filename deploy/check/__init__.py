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

One module per check (``syaml``, ``workflows``, ``build``, ``ram``); ``report`` holds what they return.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.check.build import check_build
from deploy.check.ram import OBSERVATION_RULE, check_ram, observed_calls
from deploy.check.report import Problem, Report
from deploy.check.syaml import SCHEMA_FILE, Resolver, check_syaml, function_dir_for
from deploy.check.workflows import check_workflows

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OBSERVATION_RULE", "SCHEMA_FILE", "Problem", "Report", "Resolver", "check_deploy",
           "function_dir_for", "observed_calls"]


def check_deploy(root: Path = Path("."), *, state_dir: Path | None = Path(".albmtls"), build: bool = True,
                 observe: bool = True, env: Mapping[str, str] | None = None,
                 schema_file: Path | None = None) -> Report:
    """Run every check on the repository at ``root`` (see module doc)."""
    root = Path(root).resolve()
    env = os.environ if env is None else env
    rep = Report()
    fcs, flows = check_syaml(root, rep, env, schema_file or SCHEMA_FILE)
    invoked = check_workflows(root, rep, fcs, flows)
    check_build(root, rep, fcs, build)
    check_ram(root, rep, invoked, state_dir if observe else None)
    if not observe:
        rep.notes.append("observation skipped: the function role was not compared with observed calls")
    return rep

