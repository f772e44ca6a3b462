"""The demo account's KMS part: one software key management instance (KMS 3.0 accounts keep their
keys in an instance; docs/ALIBABA-APIS.md §7.6)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import seed_instance

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator


def seed_demo(cloud: Emulator, ids: dict[str, Any]) -> None:
    """The KMS instance ``kms_instance_id`` (software, ``Connected``)."""
    seed_instance(cloud, ids["kms_instance_id"])
