"""DNS as the domain checks see it: queries through the configured resolver with the DO bit and,
for the monitor's own DNSSEC validation, the CD bit (the resolver hands over what it got, valid
or not, and the monitor judges; a resolver's AD bit is never trusted), and the chain of trust
from a configured anchor (the IANA root KSKs shipped) down to a domain's records.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import socket
import struct
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import dns._features
import dns.exception
import dns.flags
import dns.message
import dns.name

# dnspython imports httpx (DNS over HTTPS) and with it trio when they are installed, as Selenium's
# dependencies are here: 0.2 s at every start of the CLI and the daemon, for a transport these
# checks never use (UDP and TCP only). Said before dns.query is first imported.
dns._features.force("doh", False)

import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402
import dns.rrset  # noqa: E402

with warnings.catch_warnings():  # dnspython imports DSA support, which cryptography deprecates: not ours to say
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import dns.dnssec

ROOT_ANCHORS = Path(__file__).with_name("root-anchors.ds")  # IANA's root KSK DS records (KSK-2017, KSK-2024)
DIGESTS = {1: "SHA1", 2: "SHA256", 4: "SHA384"}


class DnsError(Exception):
    """The resolver gave no usable answer (timeout, SERVFAIL, refused): nothing can be judged."""


def parse_server(text: str) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '[2001:db8::1]:53' or '2001:db8::1' -> (address, port)."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]")
        return address, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        address, _, port = text.partition(":")
        return address, int(port)
    return text, 53


@dataclasses.dataclass
class Answer:
    rcode: int
    rrset: dns.rrset.RRset | None  # the records asked for (None: no data)
    sigs: dns.rrset.RRset | None  # their RRSIGs
    ad: bool = False  # the resolver's AD bit (only read to compare with its own validation)
    response: dns.message.Message | None = None  # what came (header, question, answer), for checkdmarc's lookups


def query_wire(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, cd: bool) -> bytes:
    """A query as it goes on the wire (RFC 1035 § 4.1, RFC 6891 § 6.1): a random ID, RD (and CD),
    one question, and an OPT record with a 1232-byte payload and the DO bit. Written directly:
    dnspython's message building cost as much as reading the answer."""
    flags = 0x0100 | (0x0010 if cd else 0)  # RD, CD
    header = struct.pack("!HHHHHH", secrets.randbelow(0x10000), flags, 1, 0, 0, 1)
    opt = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, 1232, 0x8000, 0)  # root owner, payload, DO, no options
    return header + (qname.to_wire() or b"") + struct.pack("!HH", rdtype, dns.rdataclass.IN) + opt


def exchange(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, cd: bool, address: str, port: int,
             timeout: float) -> dns.message.Message:
    """One question over UDP (over TCP again when the answer is truncated), reading the header, the
    question and the answer section only: the authority and additional sections (a negative
    answer's SOA, NSEC records and their signatures, the OPT record) are not parsed, which makes a
    DNSSEC answer several times cheaper to read. No check here uses them."""
    wire = query_wire(qname, rdtype, cd=cd)
    end = time.monotonic() + timeout
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))  # a connected socket takes datagrams from that server only
        sock.send(wire)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise dns.exception.Timeout(timeout=timeout)
            sock.settimeout(left)
            got = sock.recv(65535)  # TimeoutError, ConnectionRefusedError: OSError, as dns.query's
            if len(got) < 12 or got[:2] != wire[:2] or not got[2] & 0x80:
                continue  # not an answer to this question
            if got[2] & 0x02:  # TC: the whole exchange again over TCP
                query = dns.message.make_query(qname, rdtype, want_dnssec=True, payload=1232)
                query.flags |= dns.flags.RD | (dns.flags.CD if cd else 0)
                return dns.query.tcp(query, address, timeout=max(0.1, end - time.monotonic()), port=port)
            # NSCOUNT and ARCOUNT set to 0: the sections after the answer are left unread
            response = dns.message.from_wire(got[:8] + b"\0\0\0\0" + got[12:], ignore_trailing=True)
            question = response.question[0] if len(response.question) == 1 else None
            if question is not None and question.name == qname and question.rdtype == rdtype:
                return response


class Resolver:
    """Queries with DO (and CD: unvalidated) to the configured servers, in order; TCP when truncated."""

    def __init__(self, servers: Sequence[str], timeout: float, deadline: float | None = None) -> None:
        """`deadline` (time.monotonic()): past it every question fails at once (the run's timeout)."""
        self.deadline = deadline
        if servers:
            self.servers = [parse_server(s) for s in servers]
        else:
            system = dns.resolver.Resolver()
            self.servers = [(str(a), int(system.port)) for a in system.nameservers]
        self.timeout = timeout
        self.queries = 0
        self._memo: dict[tuple[dns.name.Name, int, bool], Answer] = {}  # one run asks each question once
        # What the run's own validation vouches for, so checkdmarc's lookups reuse it (`Bridge`):
        # records verified with the domain's keys, and everything below a zone the chain found insecure
        # (no resolver validates there: an answer with CD is the answer without).
        self.validated: set[tuple[dns.name.Name, int]] = set()
        self.insecure: list[dns.name.Name] = []

    def ask(self, name: dns.name.Name | str, rdtype: dns.rdatatype.RdataType | str, *, validate: bool = False) -> Answer:
        """`validate`: let the resolver validate (no CD): for the comparison with its own verdict."""
        qname = dns.name.from_text(name) if isinstance(name, str) else name
        rtype = dns.rdatatype.RdataType.make(rdtype)
        key = (qname, int(rtype), validate)
        if key not in self._memo and self.deadline is not None and time.monotonic() > self.deadline:
            raise DnsError(f"Zeitlimit der Prüfung erreicht vor {qname} {dns.rdatatype.to_text(rtype)}")
        if key not in self._memo:
            self._memo[key] = self._ask(qname, rtype, validate)
        return self._memo[key]

    def _ask(self, qname: dns.name.Name, rtype: dns.rdatatype.RdataType, validate: bool) -> Answer:
        last: Exception | None = None
        for address, port in self.servers:
            self.queries += 1
            timeout = self.timeout if self.deadline is None else max(0.1, min(self.timeout,
                                                                                self.deadline - time.monotonic()))
            try:
                response = exchange(qname, rtype, not validate, address, port, timeout)
            except (OSError, dns.exception.DNSException) as exc:
                last = exc
                continue
            rcode = response.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                if validate:
                    return Answer(rcode, None, None, response=response)
                last = DnsError(f"{dns.rcode.to_text(rcode)} von {address}")
                continue
            rrset = _find(response.answer, qname, rtype)
            sigs = _find(response.answer, qname, dns.rdatatype.RRSIG, rtype)
            return Answer(rcode, rrset, sigs, bool(response.flags & dns.flags.AD), response)
        raise DnsError(f"keine Antwort auf {qname} {dns.rdatatype.to_text(rtype)}: {last}")


def _find(section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: dns.rdatatype.RdataType,
          covers: dns.rdatatype.RdataType = dns.rdatatype.NONE) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


def load_anchors(path: Path | None) -> dns.rrset.RRset:
    """The trust anchor's DS records for the root (zone-file lines as /usr/share/dns/root.ds:
    `. IN DS <tag> <algorithm> <digest type> <digest>`, comments after `;`); read again only
    when the file changed."""
    source = path or ROOT_ANCHORS
    return _anchors(source, source.stat().st_mtime_ns)


@functools.cache
def _anchors(source: Path, _mtime: int) -> dns.rrset.RRset:
    rdatas = []
    for number, raw in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(";", 1)[0].split()
        if not line:
            continue
        if "DS" not in line or line[0] != ".":
            raise ValueError(f"{source}:{number}: erwartet '. IN DS <Schlüsselnummer> <Algorithmus> <Typ> <Prüfsumme>'")
        try:
            rdatas.append(dns.rdata.from_text("IN", "DS", " ".join(line[line.index("DS") + 1:])))
        except dns.exception.SyntaxError as exc:
            raise ValueError(f"{source}:{number}: kein gültiger DS-Eintrag ({exc})") from exc
    if not rdatas:
        raise ValueError(f"{source}: keine DS-Einträge für die Wurzel")
    return dns.rrset.from_rdata_list(dns.name.root, 0, rdatas)


@dataclasses.dataclass
class Chain:
    """What the walk from the anchor to a domain found: `secure` (every step validated),
    `insecure` (a delegation without DS: not signed from `zone` on), `bogus` (a signature or
    key that does not validate, `detail` says which) or `unknown` (no answer)."""

    outcome: str
    zone: str
    detail: str
    steps: list[dict[str, str]] = dataclasses.field(default_factory=list)
    keys: dns.rrset.RRset | None = None  # the domain's validated DNSKEY set (secure only)


def _german(exc: Exception) -> str:
    text = str(exc)
    if "expired" in text:
        return "Signatur abgelaufen"
    if "not yet valid" in text:
        return "Signatur noch nicht gültig"
    if "unsupported" in text.lower() or "unknown algorithm" in text.lower():
        return "Algorithmus nicht unterstützt"
    return "Signatur ungültig"


def _verify(rrset: dns.rrset.RRset, sigs: dns.rrset.RRset | None, keys: dns.rrset.RRset, now: float) -> str | None:
    """None when `rrset` validates with `keys`; else why not (German)."""
    if sigs is None:
        return f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} ohne Signatur"
    try:
        dns.dnssec.validate(rrset, sigs, {keys.name: keys}, now=now)
    except dns.dnssec.ValidationFailure as exc:
        expired = [s for s in sigs if s.expiration < now]
        if expired and len(expired) == len(sigs):
            return (f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: Signatur abgelaufen am "
                    f"{time.strftime('%d.%m.%Y %H:%M UTC', time.gmtime(max(s.expiration for s in expired)))}")
        return f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: {_german(exc)}"
    return None


def _keys_from_ds(dnskeys: dns.rrset.RRset, ds: dns.rrset.RRset) -> dns.rrset.RRset | None:
    """The DNSKEYs a DS record vouches for (None: none)."""
    matching = []
    for key in dnskeys:
        for d in ds:
            digest = DIGESTS.get(int(d.digest_type))
            if digest is None:
                continue
            try:
                if dns.dnssec.make_ds(dnskeys.name, key, digest) == d:
                    matching.append(key)
            except (dns.dnssec.UnsupportedAlgorithm, ValueError):
                continue
    return dns.rrset.from_rdata_list(dnskeys.name, dnskeys.ttl, matching) if matching else None


# Validated keys of the zones above the checked domains (the root, the TLDs), as a validating
# resolver keeps them: per trust anchor and zone, until the smallest of their TTL, the earliest
# expiry of the signatures that vouched for them and an hour.
_KEYS: dict[tuple[str, str], tuple[float, dns.rrset.RRset, list[dict[str, str]]]] = {}
_KEYS_LOCK = threading.Lock()
KEYS_MAX_AGE = 3600.0


def _cached(anchor_id: str, zone: str, now: float) -> tuple[dns.rrset.RRset, list[dict[str, str]]] | None:
    with _KEYS_LOCK:
        got = _KEYS.get((anchor_id, zone))
    return (got[1], got[2]) if got is not None and got[0] > now else None


def _remember(anchor_id: str, zone: str, keys: dns.rrset.RRset, sigs: dns.rrset.RRset | None,
              steps: list[dict[str, str]], now: float) -> None:
    until = now + min(float(keys.ttl), KEYS_MAX_AGE)
    if sigs is not None:
        until = min(until, float(min(s.expiration for s in sigs)))
    with _KEYS_LOCK:
        _KEYS[(anchor_id, zone)] = (until, keys, [dict(s) for s in steps])


def walk(resolver: Resolver, domain: str, anchors: dns.rrset.RRset, now: float | None = None) -> Chain:
    """Validate the chain of trust from the anchor (the root) to `domain`'s apex keys; the keys
    of the zones above it are reused while valid (`_KEYS`)."""
    now = now or time.time()
    anchor_id = anchors.to_text()
    target = dns.name.from_text(domain)
    names = [target.split(i)[1] for i in range(1, len(target) + 1)]  # ., de., gut.de.
    steps: list[dict[str, str]] = []
    trusted_ds = anchors
    parent_keys: dns.rrset.RRset | None = None
    start = 0
    for depth in range(len(names) - 1, 0, -1):  # the deepest zone above the domain whose keys are known
        cached = _cached(anchor_id, names[depth - 1].to_text(), now)
        if cached is not None:
            parent_keys, steps = cached[0], [dict(s) for s in cached[1]]
            start = depth
            break
    try:
        for index, name in enumerate(names[start:], start):
            zone = name.to_text()
            if parent_keys is not None:  # below the root: the parent's signed DS (or its absence)
                ds = resolver.ask(name, "DS")
                if ds.rrset is None:
                    if resolver.ask(name, "SOA").rrset is None:
                        continue  # no zone cut here: the parent's keys go on
                    steps.append({"zone": zone, "outcome": "insecure", "detail": "kein DS-Eintrag in der Elternzone"})
                    resolver.insecure.append(name)
                    return Chain("insecure", zone, f"{zone} ist nicht signiert: kein DS-Eintrag in der Elternzone",
                                 steps)
                why = _verify(ds.rrset, ds.sigs, parent_keys, now)
                if why:
                    steps.append({"zone": zone, "outcome": "bogus", "detail": why})
                    return Chain("bogus", zone, why, steps)
                trusted_ds = ds.rrset
            keys = resolver.ask(name, "DNSKEY")
            if keys.rrset is None:
                why = f"{zone}: DS vorhanden, aber kein DNSKEY"
                steps.append({"zone": zone, "outcome": "bogus", "detail": why})
                return Chain("bogus", zone, why, steps)
            vouched = _keys_from_ds(keys.rrset, trusted_ds)
            if vouched is None:
                why = f"{zone}: kein DNSKEY passt zum DS der Elternzone"
                steps.append({"zone": zone, "outcome": "bogus", "detail": why})
                return Chain("bogus", zone, why, steps)
            why = _verify(keys.rrset, keys.sigs, vouched, now)
            if why:
                steps.append({"zone": zone, "outcome": "bogus", "detail": why})
                return Chain("bogus", zone, why, steps)
            steps.append({"zone": zone, "outcome": "secure",
                          "detail": ", ".join(f"Schlüssel {dns.dnssec.key_id(k)} "
                                              f"({dns.dnssec.algorithm_to_text(k.algorithm)})" for k in vouched)})
            parent_keys = keys.rrset
            if index < len(names) - 1:  # a zone above the domain: its keys serve the next domains too
                _remember(anchor_id, zone, keys.rrset, keys.sigs, steps, now)
    except DnsError as exc:
        return Chain("unknown", domain, str(exc), steps)
    return Chain("secure", domain, "Vertrauenskette vom Anker bis zur Domain gültig", steps, parent_keys)


def verify_records(resolver: Resolver, chain: Chain, names: Sequence[tuple[str, str]],
                   now: float | None = None) -> str | None:
    """With a secure chain: each of `names` ((owner, type), those that exist) validates with the
    domain's keys. None, or the first that does not (German)."""
    if chain.keys is None:
        return None
    now = now or time.time()
    for owner, rdtype in names:
        answer = resolver.ask(owner, rdtype)
        if answer.rrset is None:
            continue
        why = _verify(answer.rrset, answer.sigs, chain.keys, now)
        if why:
            return why
        resolver.validated.add((answer.rrset.name, answer.rrset.rdtype))
    return None


class Bridge(dns.resolver.Resolver):
    """The dnspython resolver handed to checkdmarc: its lookups go through the run's `Resolver`
    (one question asked once per run, within the run's deadline). Records the run validated
    itself, and names below an insecure delegation, are answered from what the run already has;
    everything else is asked without CD, so the resolver validates it as any mail receiver's
    resolver would (a bogus answer is SERVFAIL: the lookup fails, nothing is judged on it)."""

    def __init__(self, inner: Resolver) -> None:
        super().__init__(configure=False)
        self.inner = inner
        self.nameservers = [address for address, _port in inner.servers]
        self.lifetime = self.timeout = inner.timeout

    def resolve(self, qname: dns.name.Name | str, rdtype: dns.rdatatype.RdataType | str = dns.rdatatype.A,
                rdclass: dns.rdataclass.RdataClass | str = dns.rdataclass.IN, tcp: bool = False,
                source: str | None = None, raise_on_no_answer: bool = True, source_port: int = 0,
                lifetime: float | None = None, search: bool | None = None) -> dns.resolver.Answer:
        name = dns.name.from_text(qname) if isinstance(qname, str) else qname
        rtype = dns.rdatatype.RdataType.make(rdtype)
        known = (name, rtype) in self.inner.validated or any(name.is_subdomain(z) for z in self.inner.insecure)
        def failed(why: str, response: dns.message.Message | None = None) -> dns.resolver.NoNameservers:
            return dns.resolver.NoNameservers(request=dns.message.make_query(name, rtype),
                                              errors=[(self.nameservers[0], False, 53, why, response)])
        try:
            got = self.inner.ask(name, rtype, validate=not known)
        except DnsError as exc:
            raise failed(str(exc)) from exc
        response = got.response
        assert response is not None
        if got.rcode == dns.rcode.NXDOMAIN:
            raise dns.resolver.NXDOMAIN(qnames=[name], responses={name: response})
        if got.rcode != dns.rcode.NOERROR:
            raise failed(dns.rcode.to_text(dns.rcode.Rcode.make(got.rcode)), response)
        answer = dns.resolver.Answer(name, rtype, dns.rdataclass.IN, cast(dns.message.QueryMessage, response))
        if answer.rrset is None and raise_on_no_answer:
            raise dns.resolver.NoAnswer(response=response)
        return answer
