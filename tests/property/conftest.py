"""Property-based tests of bad input everywhere (hypothesis): step functions, the HTTP API, the
CLI's input files and the workflow input."""
from tests.functional.conftest import free_offset, live_cloud, live_settings, writes, demo_input  # noqa: F401
