"""IT security beyond the web server (E-Government-Pakt § 8): DNS and e-mail hygiene of a
service's registrable domains, to BSI TR-03182 (e-mail authentication) and TR-03108 (secure
e-mail transport) and as internet.nl tests public bodies.

One run per domain (`dns:<domain>`): DNSSEC (signed; the chain of trust validated by the monitor
from the configured anchor down to the domain's keys and the records it reads: a resolver's AD
bit is never trusted), CAA, IPv6 of the name servers, the web hosts and the mail hosts (AAAA
present), and for a domain that sends mail MX, SPF (syntax, at most 10 DNS lookups, ending
`~all` or `-all`) and DMARC (p=quarantine or reject, with `rua`); for one that sends none
(`sends_mail: false`) Null MX, SPF `v=spf1 -all` and DMARC p=reject. SPF and DMARC are parsed and
evaluated by checkdmarc with its resolver pointed at the configured one. Each marker is pass,
fail or unknown with its evidence and a German fix; the grade counts the failing ones.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

import dns.rcode
import dns.rrset

from checks.context import CheckContext
from checks.domain import transport
from checks.domain.resolve import Bridge, Chain, DnsError, Resolver, load_anchors, verify_records, walk
from checks.domain.settings import KEY_PREFIX, MARKERS, DomainSettings, domain_of
from checks.kind import CheckImplementation, Records, cut
from checks.page import Marker, marker_key
from checks.result import CheckResult, Reason, State, Target

NAME = "domain"
MARKER_NAMES_DE = {
    "dnssec_signed": "Domain mit DNSSEC signiert",
    "dnssec_valid": "DNSSEC-Vertrauenskette gültig",
    "caa_present": "CAA-Eintrag legt erlaubte Zertifizierungsstellen fest",
    "ipv6_ns": "Nameserver über IPv6 erreichbar (AAAA)",
    "ipv6_web": "Webserver über IPv6 erreichbar (AAAA)",
    "ipv6_mx": "Mailserver über IPv6 erreichbar (AAAA)",
    "mx": "MX-Eintrag (oder Null-MX für Domains ohne E-Mail)",
    "spf": "SPF-Eintrag gültig und abschließend (~all/-all)",
    "dmarc": "DMARC-Richtlinie quarantine/reject mit Berichtsadresse",
    "dkim": "DKIM-Schlüssel der Selektoren vorhanden und stark genug",
    "starttls": "STARTTLS auf jedem Mailserver, TLS nach TR-02102-2",
    "dane": "DANE: TLSA-Eintrag mit DNSSEC, passend zum Zertifikat",
}
FIXES_DE = {
    "dnssec_signed": "Zone beim DNS-Betreiber signieren lassen und den DS-Eintrag beim Registrar hinterlegen.",
    "dnssec_valid": "Signaturen erneuern (automatische Neusignierung prüfen) bzw. DS-Eintrag und Schlüssel abgleichen.",
    "caa_present": 'CAA-Eintrag setzen, z. B. 0 issue "letsencrypt.org" für die genutzte Zertifizierungsstelle.',
    "ipv6_ns": "Nameserver mit IPv6-Adressen (AAAA) betreiben lassen.",
    "ipv6_web": "Webserver unter IPv6 erreichbar machen und AAAA-Eintrag setzen.",
    "ipv6_mx": "Mailserver unter IPv6 erreichbar machen und AAAA-Eintrag setzen.",
    "mx": "MX-Eintrag setzen; sendet und empfängt die Domain keine E-Mail: Null-MX (MX 0 .).",
    "spf": "SPF-Eintrag veröffentlichen, höchstens 10 DNS-Abfragen, mit ~all oder -all abschließen (ohne E-Mail: "
           "v=spf1 -all).",
    "dmarc": "_dmarc-Eintrag mit p=quarantine oder p=reject (auch sp= für Subdomains) und rua=mailto:… "
             "veröffentlichen (ohne E-Mail: p=reject mit rua).",
    "dkim": "DKIM mit RSA-SHA256 (mindestens 2048 Bit) und zusätzlich Ed25519-SHA256 signieren und beide Schlüssel unter "
            "<selektor>._domainkey veröffentlichen.",
    "starttls": "STARTTLS auf jedem Mailserver anbieten, nur TLS 1.2/1.3 mit Cipher-Suites nach BSI TR-02102-2.",
    "dane": "TLSA-Eintrag (z. B. 3 1 1 mit dem SHA-256 des öffentlichen Schlüssels) unter _25._tcp.<mailserver> in der "
            "signierten Zone veröffentlichen und bei jedem Zertifikatswechsel vorab aktualisieren.",
}
GRADES = ("A", "B", "C", "D", "F")


class DomainEvidence(TypedDict, total=False):
    domain: str
    shared_from: str  # the service whose run this result is (same domain, same settings, within share_for)
    detail: str
    dnssec: dict[str, Any]
    records: dict[str, Any]
    markers: dict[str, dict[str, Any]]
    grade: str
    queries: int


def evidence_of(result: CheckResult) -> DomainEvidence:
    return cast(DomainEvidence, result.evidence)


# Many services of a catalog share a registrable domain (a Land's portal domain, a provider's):
# within `share_for`, a run for the same domain with the same settings hands out the result of the
# one before (evidence `shared_from` says whose, and its time is the time it was made) instead of
# asking DNS and the mail servers again. One lock per domain: two services due at once make one run.
_SHARED: dict[str, tuple[float, CheckResult]] = {}
_SHARED_LOCKS: dict[str, threading.Lock] = {}
_SHARED_GUARD = threading.Lock()


def run(target: Target, settings: DomainSettings, ctx: CheckContext | None = None) -> CheckResult:
    if settings.share_for <= 0:
        return _run(target, settings, ctx)
    key = domain_of(target.url) + "\0" + settings.model_dump_json(exclude={"interval", "jitter", "share_for"})
    with _SHARED_GUARD:
        lock = _SHARED_LOCKS.setdefault(key, threading.Lock())
    with lock:
        now = time.monotonic()
        with _SHARED_GUARD:
            for stale in [k for k, (at, _r) in _SHARED.items() if now - at >= settings.share_for]:
                del _SHARED[stale]
            got = _SHARED.get(key)
        if got is not None and got[1].service_id != target.service_id:
            first = got[1]
            return first.replace(service_id=target.service_id, url=target.url,
                                 evidence={**first.to_dict()["evidence"], "shared_from": first.service_id})
        result = _run(target, settings, ctx)
        if result.state != State.UNKNOWN:  # what could not be told is asked again by the next service
            with _SHARED_GUARD:
                _SHARED[key] = (now, result)
        return result


def _run(target: Target, settings: DomainSettings, ctx: CheckContext | None = None) -> CheckResult:
    started, t0 = datetime.now(UTC), time.monotonic()
    domain = domain_of(target.url)
    resolver = Resolver(settings.resolver, settings.query_timeout, t0 + settings.timeout)
    try:
        # the check's own CA file, else browser.ca_files (with the system's), as for the web checks
        ca_file = str(settings.ca_file) if settings.ca_file else (ctx.ca_bundle if ctx is not None else None)
        facts = _facts(resolver, domain, settings, ca_file)
    except DnsError as exc:
        return CheckResult(target.service_id, target.url, NAME, State.UNKNOWN, Reason.DNS, started,
                           round(time.monotonic() - t0, 6), evidence={"domain": domain, "detail": str(exc)[:500],
                                                                      "queries": resolver.queries})
    markers = {name: m for name, m in _judge(facts, settings, resolver, domain).items() if name in settings.markers}
    failing = [k for k, m in markers.items() if m.state == "fail"]
    grade = _grade(failing)
    evidence: DomainEvidence = {
        "domain": domain, "dnssec": facts["dnssec"], "records": facts["records"],
        "markers": {k: {**m.to_dict(), "fix": FIXES_DE[k]} if m.state == "fail" else m.to_dict()
                    for k, m in markers.items()},
        "grade": grade, "queries": resolver.queries}
    if failing:
        state, reason = State.DEGRADED, Reason.NONCOMPLIANT
        evidence["detail"] = cut(f"Note {grade}; nicht erfüllt: " + "; ".join(
            f"{MARKER_NAMES_DE[k]} ({markers[k].detail})" for k in failing), 500)
    elif any(m.state == "unknown" for m in markers.values()):
        state, reason = State.DEGRADED, Reason.FINDINGS
        evidence["detail"] = "nicht feststellbar: " + ", ".join(k for k, m in markers.items() if m.state == "unknown")
    else:
        state, reason = State.UP, Reason.OK
        evidence["detail"] = f"Note {grade}: alle {len(markers)} Prüfpunkte erfüllt"
    measurements = {"markers_failed": float(len(failing)), "grade": float(GRADES.index(grade)),
                    **{marker_key(k): 1.0 if m.state == "pass" else 0.0 for k, m in markers.items() if m.state != "unknown"}}
    return CheckResult(target.service_id, target.url, NAME, state, reason, started, round(time.monotonic() - t0, 6),
                       measurements=measurements, evidence=cast(dict[str, Any], evidence))


def _texts(resolver: Resolver, name: str, rdtype: str) -> list[str]:
    answer = resolver.ask(name, rdtype)
    return [r.to_text() for r in answer.rrset] if answer.rrset is not None else []


def _facts(resolver: Resolver, domain: str, settings: DomainSettings, ca_file: str | None = None) -> dict[str, Any]:
    """What DNS says of the domain; raises DnsError when the domain cannot be resolved at all."""
    soa = resolver.ask(domain, "SOA")
    if soa.rcode == dns.rcode.NXDOMAIN:
        raise DnsError(f"{domain}: existiert nicht (NXDOMAIN)")
    anchors = load_anchors(settings.trust_anchor)
    chain = walk(resolver, domain, anchors)
    records: dict[str, Any] = {"ns": sorted(_texts(resolver, domain, "NS")), "mx": sorted(_texts(resolver, domain, "MX")),
                               "caa": _texts(resolver, domain, "CAA"),
                               "mta_sts": _texts(resolver, f"_mta-sts.{domain}", "TXT"),
                               "tls_rpt": _texts(resolver, f"_smtp._tls.{domain}", "TXT")}
    hosts = {"ns": [n.rstrip(".") for n in records["ns"]],
             "web": [domain, f"www.{domain}"],
             "mx": [mx.split()[-1].rstrip(".") for mx in records["mx"] if mx.split()[-1] != "."]}
    records["aaaa"] = {kind: {h: bool(_texts(resolver, h, "AAAA")) for h in names} for kind, names in hosts.items()}
    records["a"] = {h: bool(_texts(resolver, h, "A")) for h in hosts["web"]}
    deadline = resolver.deadline or time.monotonic() + settings.timeout
    if settings.ipv6_connect and ({"ipv6_ns", "ipv6_web", "ipv6_mx"} & set(settings.markers)):
        ports = {"ns": settings.ns_port, "web": settings.web_port, "mx": settings.smtp_port}
        tried = [(kind, h) for kind, names in hosts.items() for h in names if records["aaaa"][kind][h]]
        # at once, not one after another: a host whose IPv6 addresses do not answer costs one timeout
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(tried))), thread_name_prefix="ipv6") as pool:
            reached = list(pool.map(lambda t: transport.reach_ipv6(resolver, t[1], ports[t[0]], deadline,
                                                                   settings.query_timeout), tried))
        records["ipv6"] = {kind: {} for kind in hosts}
        for (kind, host), outcome in zip(tried, reached, strict=True):
            records["ipv6"][kind][host] = outcome
    if any(t.strip('"').startswith("v=STSv1") for t in records["mta_sts"]):
        left = deadline - time.monotonic()
        records["mta_sts_policy"] = transport.mta_sts_policy(
            resolver, domain, hosts["mx"], port=settings.web_port, timeout=max(0.5, min(2 * settings.query_timeout, left)),
            ca_file=ca_file) if left > 0.5 else {"problems": ["Zeitlimit der Prüfung erreicht"]}
    bad_record = verify_records(resolver, chain, [(domain, t) for t in ("SOA", "NS", "MX", "TXT", "CAA", "A", "AAAA")]
                                + [(f"_dmarc.{domain}", "TXT")]) if chain.outcome == "secure" else None
    dnssec = {"outcome": chain.outcome, "zone": chain.zone, "detail": bad_record or chain.detail,
              "chain": chain.steps, "records_valid": bad_record is None}
    if bad_record:
        dnssec["outcome"] = "bogus"
    return {"dnssec": dnssec, "records": records, "chain": chain, "anchors": anchors}


def _judge(facts: dict[str, Any], settings: DomainSettings, resolver: Resolver, domain: str) -> dict[str, Marker]:
    dnssec, records = facts["dnssec"], facts["records"]
    chain: Chain = facts["chain"]
    out: dict[str, Marker] = {}
    if dnssec["outcome"] == "unknown":
        out["dnssec_signed"] = out["dnssec_valid"] = Marker.listed("unknown", dnssec["detail"])
    else:
        signed = dnssec["outcome"] != "insecure"
        out["dnssec_signed"] = Marker.listed("pass" if signed else "fail", "signiert (DS und DNSKEY)" if signed
                                             else chain.detail, [s["zone"] for s in chain.steps])
        if dnssec["outcome"] == "secure":
            out["dnssec_valid"] = Marker.listed("pass", "Kette und Einträge gültig", chain.steps)
        elif dnssec["outcome"] == "insecure":
            out["dnssec_valid"] = Marker.listed("fail", "nicht signiert: keine Vertrauenskette", chain.steps)
        else:
            out["dnssec_valid"] = Marker.listed("fail", dnssec["detail"], chain.steps)
    out["caa_present"] = Marker.listed("pass" if records["caa"] else "fail",
                                       "vorhanden" if records["caa"] else "kein CAA-Eintrag", records["caa"])
    for kind, marker in (("ns", "ipv6_ns"), ("web", "ipv6_web"), ("mx", "ipv6_mx")):
        out[marker] = _ipv6(kind, records)
    if not settings.sends_mail and "ipv6_mx" in out and out["ipv6_mx"].state == "unknown":
        out["ipv6_mx"] = Marker.listed("pass", "Domain ohne E-Mail: kein Mailserver nötig")
    out.update(_mail(records, settings, resolver, domain))
    out.update(_transport(records, settings, resolver, domain, chain, facts["anchors"]))
    return out


def _ipv6(kind: str, records: dict[str, Any]) -> Marker:
    """Every host of the kind has an AAAA record and (when connections are tried) takes a TCP
    connection at each IPv6 address (internet.nl: name servers, web server and mail servers
    reachable over IPv6)."""
    got = records["aaaa"][kind]
    if kind == "web":  # the web hosts that exist at all; one with IPv6 is not enough if another has none
        got = {h: v for h, v in got.items() if v or records["a"].get(h)}
    if not got:
        return Marker.listed("unknown", "keine Hosts" if kind != "mx" else "keine Mailserver")
    missing = [h for h, v in got.items() if not v]
    tried = records.get("ipv6", {}).get(kind, {})
    evidence = [tried.get(h) or {"host": h, "aaaa": v} for h, v in sorted(got.items())] if tried else sorted(got)
    unreachable = [f"{h} ({'; '.join(p['failures'])})" for h, p in tried.items() if p.get("reached") is False]
    problems = ([f"ohne AAAA: {', '.join(missing)}"] if missing else []) + \
        ([f"über IPv6 nicht erreichbar: {', '.join(unreachable)}"] if unreachable else [])
    if problems:
        return Marker.listed("fail", "; ".join(problems), evidence)
    untold = [p for p in tried.values() if "error" in p]
    if untold:
        why = ("Monitor ohne IPv6-Verbindung (ipv6_connect: false prüft nur AAAA)"
               if any(p.get("monitor_without_ipv6") for p in untold) else str(untold[0]["error"]))
        return Marker.listed("unknown", f"AAAA vorhanden, Erreichbarkeit nicht feststellbar: {why}", evidence)
    return Marker.listed("pass", "alle mit AAAA und über IPv6 erreichbar" if tried else "alle mit AAAA", evidence)


def _transport(records: dict[str, Any], settings: DomainSettings, resolver: Resolver, domain: str,
               chain: Chain, anchors: dns.rrset.RRset) -> dict[str, Marker]:
    """DKIM of the configured selectors; STARTTLS and DANE on each mail host."""
    out: dict[str, Marker] = {}
    if not {"dkim", "starttls", "dane"} & set(settings.markers):
        return out
    if not settings.sends_mail:
        for marker in ("dkim", "starttls", "dane"):
            out[marker] = Marker.listed("pass", "Domain ohne E-Mail: nicht erforderlich")
        return out
    if not settings.dkim_selectors:
        out["dkim"] = Marker.listed("unknown", "keine Selektoren konfiguriert (im DNS nicht auffindbar; im Profil "
                                               "dkim_selectors angeben)")
    else:
        keys = transport.dkim(resolver, domain, settings.dkim_selectors)
        errors = [k for k in keys if "error" in k]
        problems = [f"{k['selector']}: {k['problem']}" for k in keys if "problem" in k]
        evidence = [{k: v for k, v in key.items() if k != "error"} for key in keys]
        if problems:
            out["dkim"] = Marker.listed("fail", "; ".join(problems), evidence)
        elif errors:
            out["dkim"] = Marker.listed("unknown", errors[0]["error"], evidence)
        else:
            found = ", ".join(f"{k['selector']}: {k['key_type']} {k['bits']} Bit" for k in keys)
            missing = [name for kind, name in (("rsa", "RSA-SHA256"), ("ed25519", "Ed25519-SHA256"))
                       if not any(k.get("key_type") == kind for k in keys)]
            # TR-03182-03-M/-04-M (test cases F-01, F-02): key material of both algorithms
            out["dkim"] = Marker.listed("fail" if missing else "pass", found + (
                f"; kein {' und kein '.join(missing)}-Schlüssel (TR-03182 verlangt beide Verfahren)" if missing else ""),
                evidence)
    hosts = [mx.split()[-1].rstrip(".") for mx in records["mx"] if mx.split()[-1] != "."][:settings.max_mail_hosts]
    if not hosts:
        out["starttls"] = out["dane"] = Marker.listed("unknown", "keine Mailserver (kein MX)")
        return out
    probes = []
    for host in hosts:  # each within what is left of the run's timeout
        left = (resolver.deadline or float("inf")) - time.monotonic()
        probes.append(transport.starttls(host, transport.addresses(resolver, host), settings.smtp_port,
                                         min(settings.query_timeout, left)) if left > 0.5 else
                      {"host": host, "error": "Zeitlimit der Prüfung erreicht"})
    seen = [{k: v for k, v in p.items() if k != "certificate"} for p in probes]
    unreachable = [p for p in probes if "error" in p]
    problems = [why for p in probes if "error" not in p and (why := transport.judge_tls(p))]
    if problems:
        out["starttls"] = Marker.listed("fail", "; ".join(problems), seen)
    elif unreachable:
        out["starttls"] = Marker.listed("unknown", transport.judge_tls(unreachable[0]) or "", seen)
    else:
        out["starttls"] = Marker.listed("pass", "; ".join(f"{p['host']}: {p['version']} {p['cipher']}"
                                                          for p in probes), seen)
    verdicts = [transport.dane(resolver, chain, p["host"], 25, p.get("certificate") or b"", anchors)  # RFC 7672
                for p in probes if p.get("offered")]
    if not verdicts:
        out["dane"] = Marker.listed("fail" if not unreachable else "unknown",
                                    "kein Mailserver mit STARTTLS: DANE nicht möglich")
    elif any(state == "fail" for state, _ in verdicts):
        out["dane"] = Marker.listed("fail", "; ".join(d for s, d in verdicts if s == "fail"), [d for _s, d in verdicts])
    elif any(state == "unknown" for state, _ in verdicts):
        out["dane"] = Marker.listed("unknown", "; ".join(d for s, d in verdicts if s == "unknown"))
    else:
        out["dane"] = Marker.listed("pass", "; ".join(d for _s, d in verdicts), [d for _s, d in verdicts])
    return out


def _mail(records: dict[str, Any], settings: DomainSettings, resolver: Resolver, domain: str) -> dict[str, Marker]:
    from checkdmarc import dmarc, spf

    dns_resolver = Bridge(resolver)  # checkdmarc asks through the run: its validated answers reused
    out: dict[str, Marker] = {}
    mx = records["mx"]
    null_mx = mx == ["0 ."]
    if settings.sends_mail:
        out["mx"] = Marker.listed("pass" if mx and not null_mx else "fail",
                                  "vorhanden" if mx and not null_mx else "Null-MX, obwohl die Domain E-Mail sendet"
                                  if null_mx else "kein MX-Eintrag", mx)
    else:
        out["mx"] = Marker.listed("pass" if null_mx else "fail", "Null-MX (MX 0 .)" if null_mx else
                                  "kein Null-MX (MX 0 .), obwohl die Domain keine E-Mail sendet", mx)
    try:
        got = spf.check_spf(domain, resolver=dns_resolver, timeout=settings.query_timeout)
    except Exception as exc:  # checkdmarc raises its own and dnspython's errors
        got = {"record": None, "valid": False, "error": f"{type(exc).__name__}: {exc}", "lookup_failed": True}
    out["spf"] = _spf(got, settings.sends_mail)
    try:
        got = dmarc.check_dmarc(domain, resolver=dns_resolver, timeout=settings.query_timeout)
    except Exception as exc:
        got = {"record": None, "valid": False, "error": f"{type(exc).__name__}: {exc}", "lookup_failed": True}
    out["dmarc"] = _dmarc(got, settings.sends_mail, domain)
    return out


def _lookup_failed(got: dict[str, Any]) -> bool:
    error = str(got.get("error") or "")
    return bool(got.get("lookup_failed")) or "nameservers failed" in error or "timed out" in error.lower()


def _spf(got: dict[str, Any], sends_mail: bool) -> Marker:
    record = got.get("record")
    if _lookup_failed(got):
        return Marker.listed("unknown", f"SPF nicht abfragbar: {cut(got.get('error'), 200)}")
    if not record:
        return Marker.listed("fail", "kein SPF-Eintrag")
    evidence = [record]
    if not got.get("valid"):
        return Marker.listed("fail", f"ungültig: {cut(got.get('error'), 200)}", evidence)
    parsed = got.get("parsed") or {}
    ending = parsed.get("all")
    lookups = int(got.get("dns_lookups") or 0)
    facts = f"{lookups} DNS-Abfragen, endet mit {_ALL_DE.get(str(ending), 'nichts')}"
    if not sends_mail:
        strict = ending == "fail" and not parsed.get("mechanisms") and not parsed.get("redirect")
        return Marker.listed("pass" if strict else "fail", "v=spf1 -all" if strict else
                             f"für eine Domain ohne E-Mail muss es v=spf1 -all sein ({facts})", evidence)
    if ending not in ("fail", "softfail"):
        return Marker.listed("fail", f"nicht abschließend ({facts}): ~all oder -all nötig", evidence)
    return Marker.listed("pass", facts, evidence)


_ALL_DE = {"fail": "-all", "softfail": "~all", "neutral": "?all", "pass": "+all"}


def _dmarc(got: dict[str, Any], sends_mail: bool, domain: str) -> Marker:
    if _lookup_failed(got):
        return Marker.listed("unknown", f"DMARC nicht abfragbar: {cut(got.get('error'), 200)}")
    record = got.get("record")
    if not record:
        return Marker.listed("fail", "kein DMARC-Eintrag (_dmarc)")
    if not got.get("valid"):
        return Marker.listed("fail", f"ungültig: {cut(got.get('error'), 200)}", [record])
    tags = got.get("tags") or {}
    policy = str((tags.get("p") or {}).get("value") or "none")
    rua = [r.get("address") for r in (tags.get("rua") or {}).get("value") or [] if isinstance(r, dict)]
    where = f" (geerbt von {got['location']})" if got.get("location") and got["location"] != domain else ""
    sub = tags.get("sp") or {}
    subdomains = str(sub.get("value") or policy) if sub.get("explicit") else policy
    # TR-03182-06-M: quarantine or reject and reports for the sending domain and its subdomains;
    # TR-03182-11-M: a domain that sends no mail rejects everything and asks for reports too
    wanted = ("reject",) if not sends_mail else ("quarantine", "reject")
    need = "reject" if not sends_mail else "quarantine oder reject"
    problems = []
    if policy not in wanted:
        problems.append(f"p={policy} ({need} nötig)")
    elif subdomains not in wanted:
        problems.append(f"sp={subdomains}: Subdomains ungeschützt ({need} nötig)")
    if not rua:
        problems.append("keine Berichtsadresse (rua)")
    return Marker.listed("fail" if problems else "pass", "; ".join(problems) if problems else
                         f"p={policy}" + (f", sp={subdomains}" if subdomains != policy else "") +
                         f", rua={', '.join(map(str, rua))}{where}", [record])


def _grade(failing: list[str]) -> str:
    """A: nothing fails; B: one, C: two, D: three or four, F: five or more, or a broken chain
    (validating resolvers then cannot reach the domain at all)."""
    if "dnssec_valid" in failing and "dnssec_signed" not in failing:
        return "F"
    n = len(failing)
    return "A" if n == 0 else "B" if n == 1 else "C" if n == 2 else "D" if n <= 4 else "F"


class DomainDigest(TypedDict):
    domain: str
    grade: str
    markers: dict[str, str | None]


class DomainRecords(Records):
    def digest(self, result: CheckResult) -> DomainDigest:
        ev = result.to_dict()["evidence"]
        return {"domain": cut(ev.get("domain") or domain_of(result.url), 253), "grade": str(ev.get("grade") or ""),
                "markers": {k: (m or {}).get("state") for k, m in (ev.get("markers") or {}).items()}}


CHECK = CheckImplementation(NAME, DomainSettings, run, pool="http", scope="keyed", records=DomainRecords())

__all__ = ["CHECK", "GRADES", "KEY_PREFIX", "MARKERS", "MARKER_NAMES_DE", "DomainSettings", "evidence_of", "run"]
