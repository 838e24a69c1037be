"""Builders for domain objects, shared by every test layer."""

from __future__ import annotations

from typing import Any

from core.model import CertType, Instance, InstanceStatus


def make_instance(**overrides: Any) -> Instance:
    """A one-year DigiCert OV instance in pending application with one exact name; override any field."""
    fields: dict[str, Any] = {
        "id": "inst-1",
        "name": "DigiCert OV",
        "brand": "DigiCert",
        "cert_type": CertType.OV,
        "status": InstanceStatus.PENDING_APPLICATION,
        "validity_years": 1,
        "exact_quota": 1,
        "wildcard_quota": 0,
    }
    fields.update(overrides)
    return Instance.model_validate(fields)
