"""albmtls apply's files and summary: every directory it creates for the operator's PFX files and
passwords is owner-only (as provision's), and the summary names each PFX and password file."""
from __future__ import annotations

import io
import os
import stat

from rich.console import Console

from albmtls.export import _private_dir
from albmtls.fleet import print_summary


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_every_directory_made_for_the_files_is_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        for top in (tmp_path / "out", tmp_path / "out-passwords"):
            leaf = top / "alb-demostd000000000001-443"
            _private_dir(leaf)
            assert _mode(top) == _mode(leaf) == 0o700, (oct(_mode(top)), oct(_mode(leaf)))
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        os.chmod(shared, 0o755)
        _private_dir(shared / "x")
        assert _mode(shared) == 0o755 and _mode(shared / "x") == 0o700    # an existing directory keeps its mode
    finally:
        os.umask(old)


def test_the_summary_names_the_pfx_and_password_files():
    buf = io.StringIO()
    doc = {"listeners": [{"listener_key": "alb-demostd000000000001-443", "status": "succeeded", "writes": 9,
                          "client_certificates": [{"common_name": "svc-a", "pfx_path": "out/l/svc-a.pfx",
                                                   "password_path": "out-passwords/l/svc-a.password"}]}],
           "succeeded": 1, "unchanged": 0, "failed": 0}
    print_summary(Console(file=buf, width=200), doc)
    text = buf.getvalue()
    assert "PFX out/l/svc-a.pfx" in text and "password out-passwords/l/svc-a.password" in text
