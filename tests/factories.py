"""Builders for domain objects, shared by every test layer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.model import (
    Application,
    CertType,
    CompanyProfile,
    Contact,
    DomainCheck,
    DomainName,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    Stage,
    StageChange,
    ValidationMethod,
)


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


def make_application(instance_id: str, submitted_at: datetime, **overrides: Any) -> Application:
    """An OV application for shop.example.com (DNS check open), submitted by U0ALICE; override any field."""
    fields: dict[str, Any] = {
        "id": f"{instance_id}-a1",
        "instance_id": instance_id,
        "domains": [DomainName(ascii="shop.example.com", unicode="shop.example.com")],
        "company": CompanyProfile(name="Example Ltd", phone="+86 571 0000", address="1 Road", registration_number="9"),
        "contact": Contact(name="Alice Chen", email="alice@example.com", phone="+86 138 0000 0000"),
        "validation_method": ValidationMethod.DNS,
        "key_algorithm": KeyAlgorithm.ECC_256,
        "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----",
        "key_generated": True,
        "actor": "U0ALICE",
        "submitted_at": submitted_at,
        "stage": Stage.DOMAIN_VERIFICATION,
        "stage_history": [StageChange(stage=Stage.DOMAIN_VERIFICATION, at=submitted_at)],
        "domain_checks": [
            DomainCheck(
                domain="shop.example.com",
                method=ValidationMethod.DNS,
                record_type="TXT",
                location="_dnsauth.shop.example.com",
                value="token",
            )
        ],
    }
    fields.update(overrides)
    return Application.model_validate(fields)
