"""The vocabulary every layer uses: stable error codes (``errors``), the injected clock
(``clock``), JSON logging with redaction (``logs``) and settings resolved in one place
(``settings``). Imports no SDK."""
