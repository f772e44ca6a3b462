"""Seeds of the local cloud. ``demo`` is the account of the console walkthrough: each product's
part is its ``seed.py`` (``Product.seed_demo``). Ids are fixed (see ``DEMO``) so that example inputs
can name them; key material is generated fresh per state directory (and kept by ``reset``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .emulator import Emulator

DEMO: dict[str, Any] = {
    "region": "cn-hangzhou",
    "vpc_id": "vpc-bp1demo00000000000001",
    "other_vpc_id": "vpc-bp1other0000000000002",
    "load_balancer_id": "alb-demostd000000000001",
    "dns_name": "alb-demostd000000000001.cn-hangzhou.alb.aliyuncs.com",
    "basic_load_balancer_id": "alb-demobasic0000000001",
    "basic_dns_name": "alb-demobasic0000000001.cn-hangzhou.alb.aliyuncs.com",
    "ecs": {"ECS01": "i-bp1demoecs00000000001", "ECS02": "i-bp1demoecs00000000002"},
    "other_vpc_ecs": "i-bp1otherecs0000000003",
    "server_cert_id": 20000001,
    "server_cert_identifier": "20000001-cn-hangzhou",
    "server_cert_domain": "app.example.test",
    "pca_root_identifier": "2f6b1d0c9a7e4b3f8d5c6a1e0b9f7d21",
    "pca_sub_identifier": "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42",
    # the same two CAs' CertIdentifier (UUID v6; ListPcaCaCertificate), the form ALB takes by default
    "pca_root_cert_identifier": "1efd3cac-e505-6380-aef7-9656d838852e",
    "pca_sub_cert_identifier": "1efd3cac-ee8e-6a00-ad80-5e318b70b839",
    "domain": "example.test",
    "zone_edition": "mianfei",
    # a software key management instance (KMS 3.0: asymmetric keys live in an instance)
    "kms_instance_id": "kst-hzz6demo0000000000001",
}


#: The seeds a fresh state directory can start from (``albmtls up --seed``).
SEEDS: tuple[str, ...] = ("demo",)


def seed(cloud: Emulator, name: str) -> dict[str, Any]:
    """Seed the store once; the seed's ids are kept in the store's meta ``seed``."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r} (known: {', '.join(SEEDS)})")
    from .products import PRODUCTS
    ids = dict(DEMO)
    with cloud.store.tx():
        for product in PRODUCTS:
            if product.seed_demo is not None:
                product.seed_demo(cloud, ids)
        cloud.store.set_meta("seed", {"seed": ids})
        cloud.store.set_meta("seeded", name)
    return ids
