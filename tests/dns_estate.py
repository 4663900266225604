"""A local DNS estate for the domain and mail checks (issue 40): a signed test root and test
zones, served by Knot DNS (Debian package knot) on 127.0.0.1, and an Unbound resolver (Debian
package unbound) that trusts only the test root's key and reaches every zone through Knot.
Nothing leaves the machine: the resolver knows no other root.

The zones are built and signed here with dnspython (ECDSA P-256 keys made per estate), some
broken on purpose:

- `gut.de`: signed, DS in `de.`; MX with SPF `-all`, DMARC `p=reject` with `rua`, CAA, AAAA for
  the apex, www, the mail host and the name server.
- `unsigniert.de`: no DS and no signatures; SPF `+all`, no DMARC, no CAA, IPv4 only.
- `kaputt.de`: signed, but the signature over the apex's A, MX and TXT records is corrupted.
- `abgelaufen.de`: signed with signatures that expired ten days ago.
- `keinepost.de`: sends no mail: Null MX, SPF `-all`, DMARC `p=reject` with reports to gut.de
  (which authorises them); signed.
- `zuviel.de`: SPF with more than ten DNS lookups, DMARC `p=none` without `rua`; signed; a TLSA
  record for its mail host that matches no certificate.

`gut.de` also has DKIM keys (`sel1`: RSA 2048, `ed`: Ed25519, `schwach`: RSA 1024), a TLSA record
(DANE-EE, SPKI SHA-256) matching the mail certificate the estate's STARTTLS server presents,
MTA-STS and TLS-RPT records; `unsigniert.de` a TLSA record that matches but is not signed. Two
SMTP servers (aiosmtpd) answer for every mail host: one offering STARTTLS with that
certificate, one without (the checks' `smtp_port` picks one).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import shutil
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers import free_port

ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256
SIGNED = ("gut.de", "kaputt.de", "abgelaufen.de", "keinepost.de", "zuviel.de", "gen.de")
DOMAINS = (*SIGNED, "unsigniert.de")


@dataclass(frozen=True)
class Estate:
    resolver: str  # "127.0.0.1:PORT" of the validating resolver (Unbound)
    authoritative: str  # "127.0.0.1:PORT" of Knot
    trust_anchor: Path  # the test root's DS, in zone-file format (as /usr/share/dns/root.ds)
    directory: Path
    smtp_starttls: int  # port of the SMTP server offering STARTTLS (the TLSA record's certificate)
    smtp_plain: int  # port of the SMTP server without STARTTLS
    web_port: int  # HTTPS on 127.0.0.1 and ::1 (the same port): the web hosts, mta-sts.<domain>'s policies
    web_ca: Path  # the CA of that site's certificate

    def ipv6_ports(self) -> dict[str, int]:
        """The domain check's ports here (Knot, the HTTPS site and the STARTTLS server all listen
        on ::1 too: every AAAA record of the estate is ::1) and the CA of the MTA-STS site."""
        return {"ns_port": int(self.authoritative.rsplit(":", 1)[1]), "web_port": self.web_port,
                "smtp_port": self.smtp_starttls, "ca_file": self.web_ca}


def _txt(value: str) -> str:
    """A TXT value in quoted strings of at most 255 characters each."""
    return " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))


def _dkim(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def _records(domain: str, tlsa: str = "", extra_mail: str = "") -> str:
    """The zone file text of a test domain (before signing)."""
    common = f"""\
        @ 300 IN SOA ns1.{domain}. hostmaster.{domain}. 1 3600 600 86400 300
        @ 300 IN NS ns1.{domain}.
        ns1 300 IN A 127.0.0.1
        www 300 IN A 127.0.0.1
        @ 300 IN A 127.0.0.1
    """
    six = """\
        ns1 300 IN AAAA ::1
        www 300 IN AAAA ::1
        @ 300 IN AAAA ::1
        mail 300 IN AAAA ::1
    """
    mail = f"""\
        @ 300 IN MX 10 mail.{domain}.
        mail 300 IN A 127.0.0.1
        @ 300 IN TXT "v=spf1 mx -all"
        _dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"
        @ 300 IN CAA 0 issue "letsencrypt.org"
    """
    six, mail = textwrap.dedent(six), textwrap.dedent(mail)
    extra = {
        "gut.de": six + mail + tlsa + extra_mail + 'keinepost.de._report._dmarc 300 IN TXT "v=DMARC1"\n',
        "kaputt.de": six + mail,
        "abgelaufen.de": six + mail,
        "unsigniert.de": textwrap.dedent(f"""\
            @ 300 IN MX 10 mail.{domain}.
            mail 300 IN A 127.0.0.1
            @ 300 IN TXT "v=spf1 +all"
        """) + tlsa,
        "keinepost.de": six + textwrap.dedent("""\
            @ 300 IN MX 0 .
            @ 300 IN TXT "v=spf1 -all"
            _dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@gut.de"
            @ 300 IN CAA 0 issue ";"
        """),
        "zuviel.de": six + textwrap.dedent(f"""\
            @ 300 IN MX 10 mail.{domain}.
            mail 300 IN A 127.0.0.1
            @ 300 IN TXT "v=spf1 a mx include:i1.{domain} include:i2.{domain} include:i3.{domain} include:i4.{domain} include:i5.{domain} include:i6.{domain} include:i7.{domain} include:i8.{domain} include:i9.{domain} include:i10.{domain} ~all"
            _dmarc 300 IN TXT "v=DMARC1; p=none"
            _mta-sts 300 IN TXT "v=STSv1; id=1"
            mta-sts 300 IN A 127.0.0.1
        """) + WRONG_TLSA + "".join(f'i{i} 300 IN TXT "v=spf1 ip4:192.0.2.{i} -all"\n' for i in range(1, 11)),
        "gen.de": six + mail + generated(),
    }[domain]
    return textwrap.dedent(common) + extra


# Generated SPF and DMARC records (the differential test against checkdmarc): each subdomain
# s<i>.gen.de gets SPF_VARIANTS[i % n] and DMARC_VARIANTS[i % m] (None: no record).
SPF_VARIANTS: tuple[str | list[str] | None, ...] = (
    "v=spf1 -all", "v=spf1 ~all", "v=spf1 ?all", "v=spf1 +all", "v=spf1 mx -all", "v=spf1 a mx ip4:192.0.2.1 -all",
    "v=spf1 include:inc.gen.de -all", "v=spf1 redirect=inc.gen.de", "v=spf1 ip4:192.0.2.300 -all",
    "v=spf1 foo -all", "v=spf1 mx", ["v=spf1 -all", "v=spf1 ~all"], "v=spf1 ip6:2001:db8::/32 ~all",
    "v=spf1 ptr -all", "v=spf1 include:fehlt.gen.de -all", "v=spf1 a:mail.gen.de/24 -all", None,
    "v=spf1 " + " ".join("include:inc.gen.de" for _ in range(11)) + " -all", "v=spf1 exists:%{i}.x.gen.de ~all",
    "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ~all")
DMARC_VARIANTS: tuple[str | None, ...] = (
    "v=DMARC1; p=reject; rua=mailto:dmarc@gen.de", "v=DMARC1; p=quarantine; rua=mailto:dmarc@gen.de",
    "v=DMARC1; p=none; rua=mailto:dmarc@gen.de", "v=DMARC1; p=reject", "v=DMARC1; p=bogus", "v=DMARC1",
    "v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@gen.de", "v=DMARC1; p=quarantine; sp=none; rua=mailto:d@gen.de",
    None, "v=DMARC1; p=reject; rua=dmarc@gen.de", "v=DMARC1; p=reject; adkim=s; aspf=s; rua=mailto:dmarc@gen.de",
    "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@gen.de",
    "v=DMARC1; p=quarantine; rua=mailto:dmarc@gen.de,mailto:kopie@gen.de",
    "v=DMARC1; p=reject; rua=mailto:dmarc@gen.de; ruf=mailto:dmarc@gen.de; fo=1")
GENERATED = 48


def generated() -> str:
    lines = ['inc 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n',
             # mail hosts in other zones: DANE follows their own chain (signed gut.de, unsigned unsigniert.de)
             "extern 300 IN MX 10 mail.gut.de.\n", "extern-unsigniert 300 IN MX 10 mail.unsigniert.de.\n"]
    for i in range(GENERATED):
        spf, dmarc = SPF_VARIANTS[i % len(SPF_VARIANTS)], DMARC_VARIANTS[i % len(DMARC_VARIANTS)]
        lines.append(f"s{i} 300 IN MX 10 mail.gen.de.\n")
        for record in ([spf] if isinstance(spf, str) else spf or []):
            lines.append(f's{i} 300 IN TXT "{record}"\n')
        if dmarc:
            lines.append(f'_dmarc.s{i} 300 IN TXT "{dmarc}"\n')
    return "".join(lines)


WRONG_TLSA = "_25._tcp.mail 300 IN TLSA 3 1 1 " + "ab" * 32 + "\n"


def _zone(origin: str, text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)


def _sign(zone: dns.zone.Zone, key: ec.EllipticCurvePrivateKey, *, expired: bool = False) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    dnskey = dns.dnssec.make_dnskey(key.public_key(), ALGORITHM, flags=257)  # one key, KSK and ZSK at once
    now = datetime.datetime.now(datetime.UTC)
    inception, expiration = (now - datetime.timedelta(days=20), now - datetime.timedelta(days=10)) if expired \
        else (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30))
    dns.dnssec.sign_zone(zone, keys=[(key, dnskey)], inception=inception, expiration=expiration, dnskey_ttl=300)
    return dnskey


def _corrupt(zone: dns.zone.Zone, name: str, rdtypes: tuple[dns.rdatatype.RdataType, ...]) -> None:
    """Flip a byte in the signatures over `rdtypes` at `name`: a broken signature."""
    node = zone.get_node(name)
    assert node is not None
    for rdtype in rdtypes:
        sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
        if sigs is None:
            continue
        broken = [s.replace(signature=bytes([s.signature[0] ^ 0xFF]) + s.signature[1:]) for s in sigs]
        sigs.clear()
        for s in broken:
            sigs.add(s)


def build(directory: Path, mail_cert: Path) -> tuple[dict[str, str], str]:
    """Write the zone files; returns {zone: file name} and the trust anchor's DS line."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    cert = x509.load_pem_x509_certificate(mail_cert.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    tlsa = f"_25._tcp.mail 300 IN TLSA 3 1 1 {digest.finalize().hex()}\n"
    keys = {"sel1": rsa.generate_private_key(65537, 2048), "schwach": rsa.generate_private_key(65537, 1024),
            "ed": ed25519.Ed25519PrivateKey.generate()}
    extra_mail = "".join(f"{sel}._domainkey 300 IN TXT {_txt(_dkim(k))}\n" for sel, k in keys.items())
    extra_mail += '_mta-sts 300 IN TXT "v=STSv1; id=20261205"\n_smtp._tls 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@gut.de"\n'
    extra_mail += "mta-sts 300 IN A 127.0.0.1\nmta-sts 300 IN AAAA ::1\n"
    files: dict[str, str] = {}
    ds_lines: dict[str, str] = {}
    for domain in DOMAINS:
        zone = _zone(domain + ".", _records(domain, tlsa if domain in ("gut.de", "unsigniert.de") else "",
                                            extra_mail if domain == "gut.de" else ""))
        if domain in SIGNED:
            key = ec.generate_private_key(ec.SECP256R1())
            dnskey = _sign(zone, key, expired=domain == "abgelaufen.de")
            ds_lines[domain] = f"{domain}. 300 IN DS {dns.dnssec.make_ds(domain + '.', dnskey, 'SHA256')}"
            if domain == "kaputt.de":
                _corrupt(zone, domain + ".", (dns.rdatatype.A, dns.rdatatype.MX, dns.rdatatype.TXT, dns.rdatatype.SOA))
        files[domain + "."] = _write(directory, domain, zone)
    delegations = "".join(f"{d}. 300 IN NS ns1.{d}.\nns1.{d}. 300 IN A 127.0.0.1\nns1.{d}. 300 IN AAAA ::1\n"
                          for d in DOMAINS)
    tld = _zone("de.", "de. 300 IN SOA ns1.de. hostmaster.de. 1 3600 600 86400 300\nde. 300 IN NS ns1.de.\n"
                       "ns1.de. 300 IN A 127.0.0.1\n" + delegations + "".join(line + "\n" for line in ds_lines.values()))
    tld_key = ec.generate_private_key(ec.SECP256R1())
    tld_dnskey = _sign(tld, tld_key)
    files["de."] = _write(directory, "de", tld)
    root = _zone(".", ". 300 IN SOA a.root-test. hostmaster.root-test. 1 3600 600 86400 300\n. 300 IN NS ns1.de.\n"
                      "de. 300 IN NS ns1.de.\nns1.de. 300 IN A 127.0.0.1\n"
                      f"de. 300 IN DS {dns.dnssec.make_ds('de.', tld_dnskey, 'SHA256')}\n")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_dnskey = _sign(root, root_key)
    files["."] = _write(directory, "root", root)
    return files, f". IN DS {dns.dnssec.make_ds('.', root_dnskey, 'SHA256')}"


def _write(directory: Path, stem: str, zone: dns.zone.Zone) -> str:
    name = f"{stem}.zone"
    (directory / name).write_text(zone.to_text(relativize=False), encoding="utf-8")
    return name


def _wait_for(address: str, port: int, name: str, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + 20
    while True:
        try:
            dns.query.udp(dns.message.make_query(name, dns.rdatatype.SOA), address, timeout=0.5, port=port)
            return
        except (OSError, dns.exception.Timeout):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"DNS server did not start: {log.read_text() if log.exists() else ''}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def estate() -> Iterator[Estate]:
    knotd, unbound = shutil.which("knotd") or "/usr/sbin/knotd", shutil.which("unbound") or "/usr/sbin/unbound"
    if not Path(knotd).exists() or not Path(unbound).exists():
        raise RuntimeError("knotd oder unbound fehlt: `scripts/setup.sh test` installiert die Debian-Pakete knot "
                           "und unbound")
    tmp = Path(tempfile.mkdtemp(prefix="egov-dns-"))
    from tests.certs import TestCA

    mail_pair = TestCA(tmp, name="Mail-CA").issue("mail", ["mail.gut.de"])
    files, anchor = build(tmp, mail_pair.cert)
    (tmp / "root.ds").write_text(anchor + "\n")
    auth_port, resolver_port = free_port(), free_port()
    zones = "".join(f"  - domain: \"{z}\"\n    file: \"{tmp / f}\"\n" for z, f in files.items())
    (tmp / "knot.conf").write_text(textwrap.dedent(f"""\
        server:
          listen: [ 127.0.0.1@{auth_port}, ::1@{auth_port} ]
          rundir: "{tmp}"
          udp-workers: 1
          tcp-workers: 1
          background-workers: 1
        database:
          storage: "{tmp}"
        log:
          - target: "{tmp / 'knot.log'}"
            any: info
        template:
          - id: default
            storage: "{tmp}"
            semantic-checks: off
            zonefile-sync: -1
            zonefile-load: whole
            journal-content: none
        zone:
        """) + zones)
    stubs = "".join(f"stub-zone:\n  name: \"{z}\"\n  stub-addr: 127.0.0.1@{auth_port}\n" for z in files)
    (tmp / "unbound.conf").write_text(textwrap.dedent(f"""\
        server:
          interface: 127.0.0.1
          port: {resolver_port}
          do-daemonize: no
          username: ""
          chroot: ""
          directory: "{tmp}"
          pidfile: "{tmp / 'unbound.pid'}"
          logfile: "{tmp / 'unbound.log'}"
          use-syslog: no
          verbosity: 1
          num-threads: 1
          do-ip6: no
          do-not-query-localhost: no
          access-control: 127.0.0.0/8 allow
          trust-anchor-file: "{tmp / 'root.ds'}"
          module-config: "validator iterator"
          qname-minimisation: no
          harden-dnssec-stripped: yes
          cache-max-ttl: 5
          cache-max-negative-ttl: 5
        remote-control:
          control-enable: no
        """) + stubs)
    procs: list[subprocess.Popen] = []
    web_ca = TestCA(tmp, name="Web-CA")
    web_pair = web_ca.issue("web", ["mta-sts.gut.de", "mta-sts.zuviel.de"])
    # the SMTP servers and the HTTPS site in a process of their own: their work never competes with
    # the checks (or a benchmark's side) for this process's interpreter lock
    servers = subprocess.Popen([sys.executable, "-m", "tests.dns_estate", str(mail_pair.cert), str(mail_pair.key),
                                str(web_pair.cert), str(web_pair.key)], cwd=Path(__file__).resolve().parent.parent,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(servers)
    try:
        ports = _first_line(servers, 30)
        procs.append(subprocess.Popen([knotd, "-c", str(tmp / "knot.conf")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_for("127.0.0.1", auth_port, "gut.de.", procs[-1], tmp / "knot.log")
        procs.append(subprocess.Popen([unbound, "-d", "-c", str(tmp / "unbound.conf")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_for("127.0.0.1", resolver_port, "gut.de.", procs[-1], tmp / "unbound.log")
        yield Estate(f"127.0.0.1:{resolver_port}", f"127.0.0.1:{auth_port}", tmp / "root.ds", tmp,
                     ports["smtp_starttls"], ports["smtp_plain"], ports["web"], web_ca.ca_file)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# The MTA-STS policies served at https://mta-sts.<domain>/.well-known/mta-sts.txt (by Host):
# gut.de's is good; zuviel.de's does not cover its mail host, asks for too long a max_age and is
# served as text/html.
POLICIES = {
    "mta-sts.gut.de": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: mail.gut.de\r\nmax_age: 604800\r\n"),
    "mta-sts.zuviel.de": ("text/html", "version: STSv1\nmode: testing\nmx: *.anderswo.de\nmax_age: 99999999\n"),
}


def _first_line(proc: subprocess.Popen, seconds: float) -> dict[str, int]:
    """The ports the servers' process reports once it listens (JSON on its first line)."""
    import json
    import threading

    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(seconds)
    if not got or not got[0].strip():
        raise RuntimeError(f"SMTP- und HTTPS-Server des DNS-Bestands nicht gestartet (Exit-Code {proc.poll()})")
    return json.loads(got[0])


class _PolicySite:
    """An HTTPS site on 127.0.0.1 and ::1 (the same port) serving POLICIES: the web hosts the
    domain check connects to over IPv6, and mta-sts.<domain>."""

    def __init__(self, cert: Path, key: Path) -> None:
        import http.server
        import socket
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                if self.path != "/.well-known/mta-sts.txt" or host not in POLICIES:
                    self.send_error(404)
                    return
                media, body = POLICIES[host]
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        class Server6(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
            daemon_threads = True

        class Server4(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a connection test that closes at once is not an error

        Server6.handle_error = Server4.handle_error  # type: ignore[method-assign]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._servers: list[http.server.ThreadingHTTPServer] = []
        for _attempt in range(20):  # a port free on both families
            six = Server6(("::1", 0), Handler)
            try:
                four = Server4(("127.0.0.1", six.server_address[1]), Handler)
            except OSError:
                six.server_close()
                continue
            self._servers = [six, four]
            break
        self.port = self._servers[0].server_address[1]
        for server in self._servers:
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def _smtp_servers(cert: Path, key: Path) -> list[Any]:
    """Two aiosmtpd servers on 127.0.0.1 and on ::1 (the same port): with STARTTLS (the mail
    certificate) and without."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 angenommen"

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    servers = [Controller(Sink(), hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=False),
               Controller(Sink(), hostname="127.0.0.1", port=free_port())]
    servers += [Controller(Sink(), hostname="::1", port=servers[0].port, tls_context=context, require_starttls=False),
                Controller(Sink(), hostname="::1", port=servers[1].port)]
    for server in servers:
        server.start()
    return servers


def _serve(mail_cert: str, mail_key: str, web_cert: str, web_key: str) -> None:
    """The estate's SMTP servers and HTTPS site, in this process until stdin closes."""
    import json

    smtp = _smtp_servers(Path(mail_cert), Path(mail_key))
    web = _PolicySite(Path(web_cert), Path(web_key))
    print(json.dumps({"smtp_starttls": smtp[0].port, "smtp_plain": smtp[1].port, "web": web.port}), flush=True)
    try:
        sys.stdin.read()  # until the estate ends (closes the pipe or kills this process)
    finally:
        web.close()
        for server in smtp:
            server.stop()


if __name__ == "__main__":
    _serve(*sys.argv[1:5])
