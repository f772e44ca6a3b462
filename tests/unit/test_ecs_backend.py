"""Local ECS backends (localruntime/ecs.py): a client that leaves before the answer is no traceback."""
from __future__ import annotations

import pytest

from localruntime.ecs import _BackendServer


@pytest.fixture
def server():
    s = _BackendServer(("127.0.0.1", 0), "i-test", "test")
    yield s
    s.server_close()


@pytest.mark.parametrize("exc", [BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"),
                                 TimeoutError("timed out")])
def test_a_client_leaving_before_the_answer_prints_no_traceback(server, capsys, exc):
    """`albmtls up` printed a BrokenPipeError traceback when a health check or probe left early."""
    try:
        raise exc
    except OSError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""


def test_any_other_error_is_still_reported(server, capsys):
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug" in capsys.readouterr().err
