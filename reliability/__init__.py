"""The fault suite (``python -m reliability``, ``make reliability``): provisioning and rotation runs
against one local cloud with faults injected, counted from the cloud's own state; results in
docs/RELIABILITY.md.

Modules: :mod:`reliability.faults` (what is injected), :mod:`reliability.suite` (the local cloud and
the runs), :mod:`reliability.counts` (what happened, and the verdict), :mod:`reliability.scan`
(secrets in anything readable), :mod:`reliability.run` (one whole run), :mod:`reliability.report`
(the Markdown report), ``__main__`` (the command line).
"""
