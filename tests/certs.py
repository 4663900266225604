"""Certificates generated for the tests: a private CA and server certificates signed by it."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclasses.dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path
    not_after: datetime.datetime


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "egov-monitor tests")])


def _write(directory: Path, stem: str, cert: x509.Certificate, key) -> CertPair:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return CertPair(cert_path, key_path, cert.not_valid_after_utc)


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower())


class TestCA:
    """A throwaway certificate authority."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "egov-monitor test CA", parent: TestCA | None = None,
                 aia: str | None = None) -> None:
        """A root CA, or with `parent` an intermediate CA signed by it (`aia`: its CA Issuers URL)."""
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(_name(name))
            .issuer_name(parent.cert.subject if parent else _name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        )
        if aia:
            builder = builder.add_extension(_aia(aia), critical=False)
        self.cert = builder.sign(parent.key if parent else self.key, hashes.SHA256())
        self.pair = _write(directory, "ca" if name == "egov-monitor test CA" else _stem(name), self.cert, self.key)

    @property
    def ca_file(self) -> Path:
        return self.pair.cert

    def intermediate(self, name: str, aia: str | None = None) -> TestCA:
        """An intermediate CA under this one; `aia` is the CA Issuers URL of this CA's certificate."""
        return TestCA(self.directory, name, parent=self, aia=aia)

    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def issue(self, stem: str, hosts: list[str], *, days_valid: int = 90, expired: bool = False,
              rsa_bits: int | None = None, aia: str | None = None, client: bool = False) -> CertPair:
        """A server certificate (`client`: a client certificate); `aia` names where this CA's
        certificate can be fetched (CA Issuers)."""
        key = rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        if expired:
            start, end = now - datetime.timedelta(days=40), now - datetime.timedelta(days=2)
        else:
            start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days_valid)
        sans = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        cert = (
            x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else
                                                   x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if aia:
            cert = cert.add_extension(_aia(aia), critical=False)
        return _write(self.directory, stem, cert.sign(self.key, hashes.SHA256()), key)


def self_signed(directory: Path, stem: str, host: str) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(host)).issuer_name(_name(host))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, stem, cert, key)
