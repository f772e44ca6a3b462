"""The demo account's private CA part."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ... import pki
from .models import create_root_ca, create_sub_ca

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator


def seed_demo(cloud: Emulator, ids: dict[str, Any]) -> None:
    """Root ``pca_root_identifier`` (EC P-256, 10 y) and sub-CA ``pca_sub_identifier`` (5 y, publishing
    a CRL valid 7 days), with the CertIdentifiers ``pca_root_cert_identifier`` /
    ``pca_sub_cert_identifier``; PCA subscription ends ≈ 1 year from now."""
    sub_end = pki.to_ms(cloud.clock.now() + timedelta(days=365))
    create_root_ca(cloud, ids["pca_root_identifier"], "alb-mtls Demo Private Root CA", years=10,
                   subscription_end_ms=sub_end, cert_identifier=ids["pca_root_cert_identifier"])
    create_sub_ca(cloud, ids["pca_sub_identifier"], ids["pca_root_identifier"], "alb-mtls Demo Client Sub CA",
                  years=5, subscription_end_ms=sub_end, cert_identifier=ids["pca_sub_cert_identifier"],
                  enable_crl=True, crl_day=7)
