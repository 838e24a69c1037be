"""TLS handshakes with the web servers that should serve an issued certificate (V6), with the stdlib `ssl`."""

from __future__ import annotations

import socket
import ssl

from core.rules.deploy import address_text

DEFAULT_TIMEOUT = 5.0  # seconds, for the TCP connection and again for each handshake
WILDCARD_PROBE_LABEL = "certops-check"

ProbeResult = tuple[bytes | None, bool, str | None]


def sni_name(server_name: str) -> str | None:
    """The SNI name to send for a domain. A wildcard cannot be sent as SNI, and servers pick their certificate by
    the concrete name a browser would send, so ask for a made-up label under the wildcard."""
    name = server_name.strip().rstrip(".")
    if name.startswith("*."):
        return f"{WILDCARD_PROBE_LABEL}{name[1:]}"
    return name or None


class SocketTlsProber:
    """`TlsProber` over plain sockets. Host names are not matched here: the rule checks the served names
    against the domain, because the host (an IP or a load balancer's name) need not be the domain."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError(f"a probe timeout must be positive, got {timeout}")
        self.timeout = timeout

    def probe(self, host: str, port: int, server_name: str, trust_pem: str) -> ProbeResult:
        try:
            verifying = _verifying_context(trust_pem)
        except (ssl.SSLError, ValueError) as exc:
            return None, False, f"cannot load the trust anchor: {_describe(exc)}"
        sni = sni_name(server_name)
        try:
            return self._leaf(verifying, host, port, sni), True, None
        except ssl.SSLCertVerificationError as exc:
            verify_error = f"certificate verify failed: {exc.verify_message or _describe(exc)}"
        except _ProbeFailed as failed:
            return None, False, str(failed)
        try:
            # Fetch the leaf anyway, so the rule can say whether the right certificate is installed.
            return self._leaf(_non_verifying_context(), host, port, sni), False, verify_error
        except (_ProbeFailed, ssl.SSLError) as failed:
            return None, False, f"{verify_error}; fetching the certificate without verification failed too: {failed}"

    def _leaf(self, context: ssl.SSLContext, host: str, port: int, sni: str | None) -> bytes:
        """The DER leaf after a handshake. Raises SSLCertVerificationError, or _ProbeFailed for anything else."""
        where = address_text(host, port)
        try:
            raw = socket.create_connection((host, port), timeout=self.timeout)
        except (OSError, ValueError, OverflowError) as exc:
            raise _ProbeFailed(f"cannot connect to {where}: {self._describe_network(exc)}") from exc
        with raw:
            try:
                with context.wrap_socket(raw, server_hostname=sni) as tls:
                    leaf = tls.getpeercert(binary_form=True)
            except ssl.SSLCertVerificationError:
                raise
            except (OSError, ValueError) as exc:
                raise _ProbeFailed(f"TLS handshake with {where} failed: {self._describe_network(exc)}") from exc
        if not leaf:
            raise _ProbeFailed(f"{where} completed the handshake without presenting a certificate")
        return leaf

    def _describe_network(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        return _describe(exc)


class _ProbeFailed(Exception):
    """A connection or handshake failure, with the message a person reads."""


def _verifying_context(trust_pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=trust_pem)
    return context


def _non_verifying_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
