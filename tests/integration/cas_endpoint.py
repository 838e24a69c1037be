"""A local Alibaba Cloud CAS endpoint (API 2020-04-07) that the official SDK talks to over real HTTP.

It answers the way /work/shared/docs/cas-api.md describes the service: `POST /?<params>` with the action in the
`x-acs-action` header (or `Action=` for the legacy signer), JSON bodies keyed like the ResponseBody classes, and
errors as 4xx/5xx with `{"RequestId", "Code", "Message"}`. Signatures are not checked, but the AccessKey id must
be the one the endpoint was given. Instances, orders, company profiles, contacts and certificates live in
memory; the CA staff's side (`pass_domain_validation`, `issue`, `reject`) and failure modes (`throttle`, `fail`)
are methods a test calls.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.tls_servers import ServedInBackground

VERSION = "2020-04-07"
ACCESS_KEY_ID = "LTAI-certops-test"
ACCESS_KEY_SECRET = "not-a-secret"

Record = dict[str, Any]

# GetInstanceDetail keys that ListInstances items do not carry.
_DETAIL_ONLY = frozenset(
    {
        "CompanyId",
        "ContactIdList",
        "Csr",
        "GenerateCsrMethod",
        "ValidationMethod",
        "City",
        "Province",
        "CountryCode",
        "OrderProgress",
        "DomainValidationList",
    }
)
_KEY_ALGORITHMS = frozenset({"RSA_2048", "RSA_3072", "RSA_4096", "ECC_256", "SM2"})


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class _Fault:
    status: int
    code: str
    message: str
    headers: dict[str, str]


class CasEndpoint(ServedInBackground):
    """The fake service on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, access_key_id: str = ACCESS_KEY_ID) -> None:
        self.access_key_id = access_key_id
        self.instances: dict[str, Record] = {}
        self.orders: dict[str, Record] = {}  # by instance id
        self.companies: list[Record] = []
        self.contacts: list[Record] = []
        self.certificates: dict[int, Record] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
        self._server = _Server(self)
        self._actions: dict[str, Callable[[dict[str, str]], Record]] = {
            "ListInstances": self._list_instances,
            "GetInstanceDetail": self._get_instance_detail,
            "UpdateInstance": self._update_instance,
            "ApplyCertificate": self._apply_certificate,
            "ListUserCertificateOrder": self._list_orders,
            "ListCompanies": self._list_companies,
            "CreateCompany": self._create_company,
            "ListContact": self._list_contact,
            "CreateContact": self._create_contact,
            "GetUserCertificateDetail": self._get_certificate,
        }

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    # -- what a test sets up -----------------------------------------------------------------------------------

    def add_instance(
        self,
        instance_id: str,
        *,
        brand: str = "DigiCert",
        cert_type: str = "OV",
        status: str = "inactive",
        exact: int = 1,
        wildcard: int = 0,
        name: str | None = None,
        start: int | None = None,
        end: int | None = None,
        auto_reissue: str = "disable",
        order_status: str | None = "PAYED",
        order_type: str = "BUY",
        **extra: Any,
    ) -> Record:
        """An instance as ListInstances reports it; `order_status` is its order's status in the order API."""
        record: Record = {
            "InstanceId": instance_id,
            "Brand": brand,
            "CertificateType": cert_type,
            "Status": status,
            "InstanceType": "BUY",
            "Spec": f"{brand} {cert_type}",
            "FullDomainCount": exact,
            "WildcardDomainCount": wildcard,
            "CertificateName": name or instance_id,
            "InstanceStartTime": start,
            "InstanceEndTime": end,
            "AutoReissue": auto_reissue,
            "PendingResult": "",
            "DomainValidationList": [],
            **extra,
        }
        with self._lock:
            self.instances[instance_id] = {k: v for k, v in record.items() if v is not None}
            if order_status is not None:
                self.orders[instance_id] = {
                    "InstanceId": instance_id,
                    "OrderId": next(self._ids),
                    "OrderType": order_type,
                    "Status": order_status,
                    "CertType": cert_type,
                    "RootBrand": brand,
                    "SourceType": order_type.lower(),
                }
        return record

    def throttle(self, times: int = 1, *, retry_after_ms: int | None = None) -> None:
        """The next `times` requests are throttled: 400 Throttling.User as Alibaba Cloud answers flow control, or
        with `retry_after_ms` 429 plus the x-acs-retry-after header the SDK turns into ThrottlingException."""
        headers = {} if retry_after_ms is None else {"x-acs-retry-after": str(retry_after_ms)}
        status = 400 if retry_after_ms is None else 429
        fault = _Fault(status, "Throttling.User", "Request was denied due to user flow control.", headers)
        with self._lock:
            self._faults.extend([fault] * times)

    def fail(self, status: int, code: str, message: str, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([_Fault(status, code, message, {})] * times)

    def actions(self) -> list[str]:
        with self._lock:
            return [action for action, _ in self.calls]

    def params(self, action: str) -> list[dict[str, str]]:
        with self._lock:
            return [params for name, params in self.calls if name == action]

    # -- the CA staff's side -------------------------------------------------------------------------------------

    def pass_domain_validation(self, instance_id: str) -> None:
        with self._lock:
            record = self.instances[instance_id]
            record["DomainValidationList"] = []
            record["OrderProgress"] = "organization_verify"

    def issue(self, instance_id: str, *, now: datetime | None = None) -> Record:
        """Sign the instance's CSR for its domains and mark it issued; returns the certificate record."""
        now = now or datetime.now(UTC)
        with self._lock:
            record = self.instances[instance_id]
            domains = record["Domain"].split(",")
            leaf, chain = self._sign(record["Csr"], domains, now)
            certificate_id = next(self._ids)
            self.certificates[certificate_id] = {
                "Id": certificate_id,
                "InstanceId": instance_id,
                "Cert": leaf + chain,
                "Common": domains[0],
                "Sans": ",".join(domains),
                "StartDate": now.date().isoformat(),
                "EndDate": (now + timedelta(days=199)).date().isoformat(),
            }
            record.update(
                Status="normal",
                CertificateStatus="issued",
                CertificateId=certificate_id,
                CertIdentifier=f"{certificate_id}-cn-hangzhou",
                CertificateNotBefore=int(now.timestamp()),
                CertificateNotAfter=int((now + timedelta(days=199)).timestamp()),
                OrderProgress="issued",
            )
            record.setdefault("InstanceStartTime", int(now.timestamp()))
            record.setdefault("InstanceEndTime", int((now + timedelta(days=365)).timestamp()))
            self._set_order(instance_id, "ISSUED")
            return self.certificates[certificate_id]

    def reject(self, instance_id: str, reason: str) -> None:
        with self._lock:
            record = self.instances[instance_id]
            record.update(Status="inactive", PendingResult=reason, DomainValidationList=[], OrderProgress="")
            self._set_order(instance_id, "CHECKED_FAIL")

    # -- serving -------------------------------------------------------------------------------------------------

    def answer(self, action: str | None, params: dict[str, str], headers: dict[str, str]) -> tuple[int, Record, dict]:
        request_id = str(uuid.uuid4()).upper()
        with self._lock:
            self.calls.append((action or "", dict(params)))
            try:
                if self._faults:
                    fault = self._faults.pop(0)
                    raise _Raised(ApiError(fault.status, fault.code, fault.message), fault.headers)
                self._check_caller(headers)
                handler = self._actions.get(action or "")
                if handler is None:
                    raise ApiError(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")
                return 200, {"RequestId": request_id, **handler(params)}, {}
            except _Raised as raised:
                return raised.error.status, _error_body(request_id, raised.error), raised.headers
            except ApiError as error:
                return error.status, _error_body(request_id, error), {}

    def _check_caller(self, headers: dict[str, str]) -> None:
        if headers.get("x-acs-version") != VERSION:
            raise ApiError(400, "InvalidVersion", f"Specified version {headers.get('x-acs-version')} is not valid.")
        if f"Credential={self.access_key_id}," not in headers.get("authorization", ""):
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    # -- actions -------------------------------------------------------------------------------------------------

    def _list_instances(self, params: dict[str, str]) -> Record:
        rows = [
            {k: v for k, v in record.items() if k not in _DETAIL_ONLY}
            for record in self.instances.values()
            if params.get("Status") in (None, record["Status"])
            and params.get("CertificateType") in (None, record["CertificateType"])
            and params.get("Keyword", "") in record["InstanceId"] + record.get("Domain", "")
        ]
        return _page(params, rows, "InstanceList", default_size=10, max_size=100)

    def _get_instance_detail(self, params: dict[str, str]) -> Record:
        return dict(self._instance(params))

    def _update_instance(self, params: dict[str, str]) -> Record:
        record = self._instance(params)
        if record["Status"] != "inactive":
            raise ApiError(400, "InvalidStatus.Instance", f"The instance is {record['Status']} and cannot be changed.")
        changes: Record = {}
        if "CompanyId" in params:
            if not any(str(c["CompanyId"]) == params["CompanyId"] for c in self.companies):
                raise ApiError(400, "InvalidParameter.CompanyId", "The company does not exist.")
            changes["CompanyId"] = int(params["CompanyId"])
        contacts = [int(v) for k, v in sorted(params.items()) if k.startswith("ContactIdList.")]
        if contacts:
            known = {c["ContactId"] for c in self.contacts}
            if not set(contacts) <= known:
                raise ApiError(400, "InvalidParameter.ContactIdList", "A contact does not exist.")
            changes["ContactIdList"] = contacts
        if "Domain" in params:
            _check_quota(record, params["Domain"].split(","))
            changes["Domain"] = params["Domain"]
        method = params.get("GenerateCsrMethod", "online")
        if method == "upload":
            try:
                x509.load_pem_x509_csr(params.get("Csr", "").encode())
            except ValueError:
                raise ApiError(400, "InvalidParameter.Csr", "The CSR cannot be parsed.") from None
            changes["Csr"] = params["Csr"]
        changes["GenerateCsrMethod"] = method
        if params.get("KeyAlgorithm", "RSA_2048") not in _KEY_ALGORITHMS:
            raise ApiError(400, "InvalidParameter.KeyAlgorithm", "The key algorithm is not supported.")
        if params.get("ValidationMethod", "DNS") not in ("DNS", "HTTP"):
            raise ApiError(400, "InvalidParameter.ValidationMethod", "The validation method is not supported.")
        for key in ("KeyAlgorithm", "ValidationMethod", "CountryCode", "Province", "City"):
            if key in params:
                changes[key] = params[key]
        record.update(changes)
        return {}

    def _apply_certificate(self, params: dict[str, str]) -> Record:
        record = self._instance(params)
        if record["Status"] == "pending":
            raise ApiError(400, "OperationDenied.ApplicationInProgress", "A certificate application is in progress.")
        if record["Status"] != "inactive":
            raise ApiError(400, "InvalidStatus.Instance", f"The instance is {record['Status']}.")
        if not record.get("Domain") or not record.get("ContactIdList"):
            raise ApiError(400, "IncompleteInformation", "Fill in the domain names and a contact first.")
        if record["CertificateType"] in ("OV", "EV") and not record.get("CompanyId"):
            raise ApiError(400, "IncompleteInformation", "OV and EV certificates need a company profile.")
        http = record.get("ValidationMethod") == "HTTP"
        record.update(
            Status="pending",
            PendingResult="",
            OrderProgress="domain_verify",
            DomainValidationList=[_validation_row(domain, http) for domain in record["Domain"].split(",")],
        )
        self._set_order(record["InstanceId"], "CHECKING")
        return {}

    def _list_orders(self, params: dict[str, str]) -> Record:
        order_type = params.get("OrderType", "CPACK")
        rows = [
            {k: v for k, v in order.items() if k != "OrderType"}
            for order in self.orders.values()
            if order["OrderType"] == order_type
            and params.get("Status") in (None, order["Status"])
            and params.get("Keyword", "") in order["InstanceId"]
        ]
        return _page(params, rows, "CertificateOrderList", default_size=50, max_size=100)

    def _list_companies(self, params: dict[str, str]) -> Record:
        rows = [c for c in self.companies if params.get("Keyword", "") in c["CompanyName"]]
        return _page(params, rows, "CompanyList", default_size=10, max_size=100)

    def _create_company(self, params: dict[str, str]) -> Record:
        required = ("CompanyName", "CompanyCode", "CompanyPhone", "CompanyAddress", "CompanyType", "CountryCode",
                    "Province", "City", "PostCode", "Lang")  # fmt: skip
        _require(params, required)
        company = {key: params[key] for key in required} | {"CompanyId": next(self._ids)}
        company["CompanyType"] = int(company["CompanyType"])
        self.companies.append(company)
        return {"CompanyId": company["CompanyId"]}

    def _list_contact(self, params: dict[str, str]) -> Record:
        keyword = params.get("Keyword", "")
        rows = [c for c in self.contacts if keyword in c["Name"] or keyword in c.get("Email", "")]
        return _page(params, rows, "ContactList", default_size=20, max_size=100)

    def _create_contact(self, params: dict[str, str]) -> Record:
        _require(params, ("Name", "Mobile"))
        contact = {"ContactId": next(self._ids), "Name": params["Name"], "Mobile": params["Mobile"]}
        contact["Email"] = params.get("Email", "")
        self.contacts.append(contact)
        return {"ContactId": contact["ContactId"]}

    def _get_certificate(self, params: dict[str, str]) -> Record:
        _require(params, ("CertId",))
        certificate = self.certificates.get(int(params["CertId"]))
        if certificate is None:
            raise ApiError(400, "NotFound.Certificate", f"The certificate {params['CertId']} does not exist.")
        if params.get("CertFilter", "").lower() == "true":
            return {k: v for k, v in certificate.items() if k != "Cert"}
        return dict(certificate)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _instance(self, params: dict[str, str]) -> Record:
        _require(params, ("InstanceId",))
        record = self.instances.get(params["InstanceId"])
        if record is None:
            raise ApiError(400, "InvalidInstanceId.NotFound", f"The instance {params['InstanceId']} does not exist.")
        return record

    def _set_order(self, instance_id: str, status: str) -> None:
        if instance_id in self.orders:
            self.orders[instance_id]["Status"] = status

    def _sign(self, csr_pem: str, domains: list[str], now: datetime) -> tuple[str, str]:
        if self._ca is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake CAS Issuing CA")])
            ca = (
                x509.CertificateBuilder(subject_name=name, issuer_name=name, public_key=key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256())
            )
            self._ca = (key, ca)
        key, ca = self._ca
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        sans: list[x509.GeneralName] = [_general_name(domain) for domain in domains]
        leaf = (
            x509.CertificateBuilder(
                subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0].removeprefix("*."))]),
                issuer_name=ca.subject,
                public_key=csr.public_key(),
            )
            .serial_number(x509.random_serial_number())
            .not_valid_before(now.replace(microsecond=0))
            .not_valid_after(now.replace(microsecond=0) + timedelta(days=199))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256())
        )
        return _pem(leaf), _pem(ca)


class _Raised(Exception):
    def __init__(self, error: ApiError, headers: dict[str, str]) -> None:
        super().__init__(str(error))
        self.error, self.headers = error, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, endpoint: CasEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        params = _flat(parse_qs(urlsplit(self.path).query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if body and "form-urlencoded" in (self.headers.get("Content-Type") or ""):
            params.update(_flat(parse_qs(body.decode(), keep_blank_values=True)))
        action = self.headers.get("x-acs-action") or params.pop("Action", None)
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, payload, extra = self.server.endpoint.answer(action, params, headers)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _flat(query: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[-1] for key, values in query.items()}


def _page(params: dict[str, str], rows: list[Record], key: str, *, default_size: int, max_size: int) -> Record:
    page, size = int(params.get("CurrentPage") or 1), int(params.get("ShowSize") or default_size)
    if not 1 <= size <= max_size or page < 1:
        raise ApiError(400, "InvalidParameter.ShowSize", f"ShowSize must be 1 to {max_size}, CurrentPage at least 1.")
    chosen = rows[(page - 1) * size : page * size]
    return {"TotalCount": len(rows), "CurrentPage": page, "ShowSize": size, key: [dict(row) for row in chosen]}


def _require(params: dict[str, str], keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if not params.get(key)]
    if missing:
        raise ApiError(400, f"Missing{missing[0]}", f"{missing[0]} is mandatory for this action.")


def _check_quota(record: Record, domains: list[str]) -> None:
    wildcards = sum(domain.startswith("*.") for domain in domains)
    if wildcards > record["WildcardDomainCount"] or len(domains) - wildcards > record["FullDomainCount"]:
        raise ApiError(
            400,
            "InvalidParameter.DomainCount",
            f"The instance binds {record['FullDomainCount']} exact and {record['WildcardDomainCount']} wildcard "
            f"domain names; {len(domains)} were given.",
        )


def _validation_row(domain: str, http: bool) -> Record:
    base = domain.removeprefix("*.")
    labels = base.split(".")
    is_ip = _is_ip(base)
    root = base if is_ip else ".".join(labels[-2:])
    sub = "" if is_ip else ".".join(labels[:-2])
    if http:
        key, kind = "/.well-known/pki-validation/fileauth.txt", "HTTP"
    else:
        key, kind = "_dnsauth" + (f".{sub}" if sub else ""), "TXT"
    token = secrets.token_hex(16)
    return {
        "Domain": domain,
        "RootDomain": root,
        "ValidationType": kind,
        "ValidationKey": key,
        "ValidationValue": token,
    }


def _general_name(domain: str) -> x509.GeneralName:
    if _is_ip(domain):
        return x509.IPAddress(ipaddress.ip_address(domain))
    return x509.DNSName(domain)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _error_body(request_id: str, error: ApiError) -> Record:
    return {"RequestId": request_id, "Code": error.code, "Message": error.message, "HostId": "cas.aliyuncs.com"}


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
