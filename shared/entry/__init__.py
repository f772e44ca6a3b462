"""Entry points: the FC handler wrapper (``handler``: event bytes → typed input → step → result
bytes) and the provisioning HTTP API (``api``). ``functions/<dir>/index.py`` are five lines over
these."""
