"""Deployment tooling (never deployed itself): ``build`` (one package per FC function; also runs
as a stdlib-only script, ``python3 deploy/build.py``, from ``s.yaml``'s pre-deploy action),
``check`` (``albmtls check-deploy``: s.yaml, packages, workflows and RAM policies checked offline),
``observe`` (the observed run behind the least-privilege check) and ``render`` (RAM policies for
one account). Data: ``ram/`` (policy templates), ``schema/`` (the fc3 component's JSON Schema).
"""
