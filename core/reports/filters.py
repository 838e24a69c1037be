"""The filters a report takes: a brand and a certificate type."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput
from core.model import CertType


@dataclass(frozen=True)
class Filters:
    brand: str | None = None  # compared case-insensitively, as the store does
    cert_type: CertType | None = None

    @classmethod
    def parse(cls, brand: str | None, cert_type: str | None) -> Filters:
        kind = (cert_type or "").strip().upper()
        if kind and kind not in CertType.__members__:
            raise InvalidInput(f"certificate type {cert_type!r} is not one of DV, OV, EV")
        return cls(brand=(brand or "").strip() or None, cert_type=CertType(kind) if kind else None)

    def matches(self, brand: str, cert_type: CertType) -> bool:
        brand_ok = self.brand is None or brand.casefold() == self.brand.casefold()
        return brand_ok and (self.cert_type is None or cert_type is self.cert_type)

    def as_json(self) -> dict[str, str | None]:
        return {"brand": self.brand, "cert_type": None if self.cert_type is None else self.cert_type.value}
