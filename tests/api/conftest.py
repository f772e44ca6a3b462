from tests.functional.conftest import free_offset, live_cloud, live_settings, demo_input  # noqa: F401
