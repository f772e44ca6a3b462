"""The ``albmtls`` command line (``albmtls.app:main``): the operator's tool, never deployed."""
