"""The fault suite (``python -m reliability``, ``make reliability``): provisioning and rotation runs
against one local cloud with faults injected, counted from the cloud's own state
(``reliability/suite.py``; results in docs/RELIABILITY.md)."""
