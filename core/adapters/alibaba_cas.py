"""Alibaba Cloud Certificate Management Service (CAS, API 2020-04-07) as the certificate provider.

Uses the official SDK (`alibabacloud-cas20200407`) synchronously, in the newer instance flow: ListInstances,
GetInstanceDetail, UpdateInstance + ApplyCertificate, GetUserCertificateDetail. CAS cannot activate or combine
instances through its API: those raise OperationNotSupported with the console steps a person follows. Every SDK
failure leaves here as ProviderUnavailable (try again), NotFound (unknown instance) or ProviderError (refused).
The wire-to-model translation lives in `alibaba_cas_mapping`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from alibabacloud_cas20200407 import models as cas
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi.exceptions import ThrottlingException
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import TeaException, UnretryableException

from core.adapters import alibaba_cas_mapping as wire
from core.errors import CertopsError, NotFound, OperationNotSupported, ProviderError, ProviderUnavailable
from core.model import (
    ApplicationRequest,
    CertType,
    CombinePlan,
    CompanyProfile,
    Contact,
    DomainName,
    Instance,
    InstanceStatus,
    ProviderApplication,
)
from core.ports import Clock

_log = logging.getLogger(__name__)

_PAGE_SIZE = 100  # ListInstances allows at most 100
_ORDER_PAGE_SIZE = 50  # ListUserCertificateOrder's documented default
_MAX_PAGES = 500
_ORDER_TYPES = ("CPACK", "BUY")
_ACTIVATED = frozenset(
    {
        InstanceStatus.PENDING_APPLICATION,
        InstanceStatus.REVIEWING,
        InstanceStatus.VALIDATION_FAILED,
        InstanceStatus.ISSUED,
    }
)


@dataclass(frozen=True)
class CasCompanyLocation:
    """What CreateCompany requires beyond certops's company profile. Without province, city and post code
    certops uses only company profiles that already exist in CAS."""

    country_code: str = "CN"
    province: str | None = None
    city: str | None = None
    post_code: str | None = None
    company_type: int = 0  # INFERRED: CAS documents the field (integer, example 0) but not its values
    lang: str = "zh"

    @property
    def complete(self) -> bool:
        return bool(self.province and self.city and self.post_code)


@dataclass(frozen=True)
class CasClientConfig:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    endpoint: str = "cas.aliyuncs.com"  # host[:port], or a URL whose scheme sets the protocol
    region_id: str = "cn-hangzhou"
    protocol: str = "https"
    connect_timeout_ms: int = 5000
    read_timeout_ms: int = 10000
    company: CasCompanyLocation = field(default_factory=CasCompanyLocation)

    def sdk_config(self) -> Config:
        protocol, _, host = self.endpoint.rpartition("://")
        return Config(
            access_key_id=self.access_key_id,
            access_key_secret=self.access_key_secret,
            endpoint=host,
            protocol=protocol or self.protocol,
            region_id=self.region_id,
            connect_timeout=self.connect_timeout_ms,
            read_timeout=self.read_timeout_ms,
        )


class AlibabaCasProvider:
    """The CAS account as a CertificateProvider. Safe to share between threads."""

    name = "alibaba"

    def __init__(self, config: CasClientConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock  # the port's shape; CAS reports every instant itself
        self._sdk: Client | None = None
        self._lock = threading.Lock()

    # -- CertificateProvider ---------------------------------------------------------------------------------

    def list_instances(self) -> list[Instance]:
        orders = self._order_statuses()
        found: dict[str, Instance] = {}
        for item in self._pages("listing instances", self._list_instances_page, "InstanceList"):
            try:
                instance = wire.instance_from_wire(item, orders.get(str(item.get("InstanceId"))))
            except ValueError as exc:  # pydantic's ValidationError is one too
                _log.warning("skipping CAS instance %s: %s", item.get("InstanceId"), exc)
                continue
            found[instance.id] = instance
        return [found[key] for key in sorted(found)]

    def add_instances(self, instances: Sequence[Instance]) -> None:
        raise OperationNotSupported(
            "instances are bought in the Alibaba Cloud console; run `certops sync` to load them"
        )

    def activate(self, instance_id: str) -> Instance:
        instance = self._instance(instance_id, self._detail(instance_id), self._order_status_of(instance_id))
        if instance.status is InstanceStatus.NOT_ACTIVATED:
            raise OperationNotSupported(wire.activation_handover(instance_id))
        if instance.status not in _ACTIVATED:
            raise ProviderError(
                f"instance {instance_id} is {instance.status} in Alibaba Cloud CAS and cannot be activated"
            )
        return instance

    def combine(self, plan: CombinePlan, request_key: str) -> Instance:
        raise OperationNotSupported(wire.combine_handover(plan))

    def submit(
        self, application: ApplicationRequest, domains: Sequence[DomainName], csr_pem: str
    ) -> ProviderApplication:
        instance_id = application.instance_id
        if not domains:
            raise ProviderError(f"the application on instance {instance_id} binds no domains")
        detail = self._detail(instance_id)
        if detail.get("Status") == "pending":
            raise ProviderError(f"instance {instance_id} already has an application under review in Alibaba Cloud CAS")
        if detail.get("Status") != "inactive":
            raise ProviderError(
                f"instance {instance_id} is {detail.get('Status')} in Alibaba Cloud CAS: only an instance pending "
                "application can be applied for"
            )
        organisation = detail.get("CertificateType") in (CertType.OV.value, CertType.EV.value)
        company_id = self._company_id(application.company) if organisation else None
        contact_id = self._contact_id(application.contact)
        location = self.config.company
        update = cas.UpdateInstanceRequest(
            instance_id=instance_id,
            company_id=company_id,
            contact_id_list=[contact_id],
            domain=",".join(domain.ascii for domain in domains),
            generate_csr_method="upload",
            csr=csr_pem,
            key_algorithm=application.key_algorithm.value,
            validation_method=wire.wire_validation_method(application.validation_method),
            country_code=location.country_code,
            province=location.province,
            city=location.city,
        )
        self._call(f"filling in instance {instance_id}", self._client().update_instance, update, instance_id)
        apply = cas.ApplyCertificateRequest(instance_id=instance_id)
        self._call(f"applying on instance {instance_id}", self._client().apply_certificate, apply, instance_id)
        submitted = self._application(self._detail(instance_id), just_submitted=True)
        if submitted is None:
            raise ProviderError(
                f"Alibaba Cloud CAS accepted the application on {instance_id} but reports none; run `certops sync`"
            )
        return submitted

    def application(self, instance_id: str) -> ProviderApplication | None:
        return self._application(self._detail(instance_id))

    # -- reading ---------------------------------------------------------------------------------------------

    def _list_instances_page(self, page: int) -> Any:
        request = cas.ListInstancesRequest(current_page=page, show_size=_PAGE_SIZE)
        return self._call("listing instances", self._client().list_instances, request)

    def _detail(self, instance_id: str) -> dict[str, Any]:
        request = cas.GetInstanceDetailRequest(instance_id=instance_id)
        body = self._call(f"reading instance {instance_id}", self._client().get_instance_detail, request, instance_id)
        detail: dict[str, Any] = body.to_map()
        if not detail.get("InstanceId"):
            raise NotFound(f"Alibaba Cloud CAS has no instance {instance_id}: `certops sync` loads the account's ids")
        return detail

    def _instance(self, instance_id: str, detail: dict[str, Any], order_status: str | None) -> Instance:
        try:
            return wire.instance_from_wire(detail, order_status)
        except ValueError as exc:
            raise ProviderError(f"certops cannot hold CAS instance {instance_id}: {exc}") from exc

    def _application(self, detail: dict[str, Any], *, just_submitted: bool = False) -> ProviderApplication | None:
        certificate = None
        if wire.is_issued(detail):
            request = cas.GetUserCertificateDetailRequest(cert_id=int(detail["CertificateId"]), cert_filter=False)
            what = f"reading the certificate of instance {detail['InstanceId']}"
            body = self._call(what, self._client().get_user_certificate_detail, request)
            certificate = wire.issued_certificate(body.cert or "", detail.get("KeyAlgorithm"))
        return wire.application_from_detail(detail, certificate, just_submitted=just_submitted)

    def _order_statuses(self) -> dict[str, str]:
        """Instance id -> order status, for the order states the instance API folds into `inactive`."""
        statuses: dict[str, str] = {}
        for order_type in _ORDER_TYPES:
            for status in (wire.ORDER_NOT_ACTIVATED, wire.ORDER_CHECK_FAILED):
                for row in self._pages("listing orders", self._orders_page(order_type, status), "CertificateOrderList"):
                    if row.get("InstanceId"):
                        statuses[str(row["InstanceId"])] = status
        return statuses

    def _order_status_of(self, instance_id: str) -> str | None:
        for order_type in _ORDER_TYPES:
            rows = self._pages(
                "reading orders", self._orders_page(order_type, None, instance_id), "CertificateOrderList"
            )
            for row in rows:
                if row.get("InstanceId") == instance_id and row.get("Status"):
                    return str(row["Status"])
        return None

    def _orders_page(self, order_type: str, status: str | None, keyword: str | None = None) -> Callable[[int], Any]:
        def fetch(page: int) -> Any:
            request = cas.ListUserCertificateOrderRequest(
                order_type=order_type, status=status, keyword=keyword, current_page=page, show_size=_ORDER_PAGE_SIZE
            )
            return self._call("listing orders", self._client().list_user_certificate_order, request)

        return fetch

    def _pages(self, what: str, fetch: Callable[[int], Any], key: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing; stops at an empty page or once TotalCount items have come."""
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            body = fetch(page).to_map()
            batch = body.get(key) or []
            yield from batch
            seen += len(batch)
            if not batch or seen >= (body.get("TotalCount") or 0):
                return
        raise ProviderError(f"Alibaba Cloud CAS kept paging while {what}; stopped after {_MAX_PAGES} pages")

    # -- company and contact records -------------------------------------------------------------------------

    def _company_id(self, company: CompanyProfile) -> int:
        def fetch(page: int) -> Any:
            request = cas.ListCompaniesRequest(keyword=company.name, current_page=page, show_size=_ORDER_PAGE_SIZE)
            return self._call("listing company profiles", self._client().list_companies, request)

        for row in self._pages("listing company profiles", fetch, "CompanyList"):
            same_name = _same(row.get("CompanyName"), company.name)
            code = str(row.get("CompanyCode") or "")
            if same_name and row.get("CompanyId") and (not code or _same(code, company.registration_number)):
                return int(row["CompanyId"])
        location = self.config.company
        if not location.complete:
            raise ProviderError(
                f"company profile {company.name!r} is not in Alibaba Cloud CAS yet and certops does not know its "
                "province, city and post code: create it in the console's Information Management, or set "
                "CERTOPS_CAS_COMPANY_PROVINCE, CERTOPS_CAS_COMPANY_CITY and CERTOPS_CAS_COMPANY_POST_CODE, "
                "then submit again"
            )
        request = cas.CreateCompanyRequest(
            company_name=company.name,
            company_code=company.registration_number,
            company_phone=company.phone,
            company_address=company.address,
            company_type=location.company_type,
            country_code=location.country_code,
            province=location.province,
            city=location.city,
            post_code=location.post_code,
            lang=location.lang,
        )
        body = self._call(f"creating company profile {company.name!r}", self._client().create_company, request)
        return int(body.company_id)

    def _contact_id(self, contact: Contact) -> int:
        def fetch(page: int) -> Any:
            request = cas.ListContactRequest(keyword=contact.email, current_page=page, show_size=_ORDER_PAGE_SIZE)
            return self._call("listing contacts", self._client().list_contact, request)

        for row in self._pages("listing contacts", fetch, "ContactList"):
            if _same(row.get("Email"), contact.email) and _same(row.get("Name"), contact.name) and row.get("ContactId"):
                return int(row["ContactId"])
        request = cas.CreateContactRequest(name=contact.name, mobile=contact.phone, email=contact.email)
        body = self._call(f"creating contact {contact.name!r}", self._client().create_contact, request)
        return int(body.contact_id)

    # -- the SDK ---------------------------------------------------------------------------------------------

    def _client(self) -> Client:
        with self._lock:
            if self._sdk is None:
                if not (self.config.access_key_id and self.config.access_key_secret):
                    raise ProviderError(
                        "Alibaba Cloud CAS needs an AccessKey: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                    )
                try:
                    self._sdk = Client(self.config.sdk_config())
                except Exception as exc:
                    raise translate_error(exc, "setting up the SDK client", None) from exc
            return self._sdk

    def _call(self, what: str, method: Callable[[Any], Any], request: Any, instance_id: str | None = None) -> Any:
        """One SDK call; its response body, or a certops error in place of whatever the SDK raised."""
        try:
            return method(request).body
        except Exception as exc:
            raise translate_error(exc, what, instance_id) from exc


def translate_error(exc: Exception, what: str, instance_id: str | None) -> CertopsError:
    """The certops error for an exception the SDK raised while doing `what`."""
    if isinstance(exc, UnretryableException):  # no HTTP answer: refused connection, timeout, unreadable body
        return ProviderUnavailable(
            f"Alibaba Cloud CAS could not be reached while {what} ({exc.inner_exception}); try again later"
        )
    if not isinstance(exc, TeaException):
        return ProviderError(f"the Alibaba Cloud SDK failed while {what}: {exc!r}")
    data = exc.data if isinstance(exc.data, dict) else {}
    status = getattr(exc, "status_code", None) or data.get("statusCode")
    code = str(data.get("Code") or exc.code or "Unknown")
    message = str(data.get("Message") or exc.message or "no message")
    request_id = data.get("RequestId")
    said = f"{code}: {message}" + (f" (request id {request_id})" if request_id else "")
    if isinstance(exc, ThrottlingException):
        kind = wire.ErrorKind.UNAVAILABLE
    else:
        kind = wire.classify_error(status, code, about_instance=instance_id is not None)
    if kind is wire.ErrorKind.UNAVAILABLE:
        return ProviderUnavailable(f"Alibaba Cloud CAS is throttling or failing while {what} ({said}); try again later")
    if kind is wire.ErrorKind.NOT_FOUND:
        return NotFound(
            f"Alibaba Cloud CAS has no instance {instance_id} ({said}): `certops sync` loads the account's ids"
        )
    return ProviderError(f"Alibaba Cloud CAS refused {what}: {said}")


def _same(left: object, right: str) -> bool:
    return str(left or "").strip().casefold() == right.strip().casefold()
