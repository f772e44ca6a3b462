from tests.functional.conftest import free_offset, live_cloud, live_settings, writes, demo_input  # noqa: F401
