"""DNS and e-mail hygiene (issue 40) on a local estate (tests/dns_estate.py): Knot serves a signed
test root and test zones, Unbound resolves them trusting only the test root. Each marker is
shown passing and failing; the monitor's own DNSSEC verdict equals the resolver's validation on
every test zone; the kind runs through the CLI, its metrics pass promtool."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks.domain import GRADES, DomainSettings, run
from checks.domain.resolve import Resolver, load_anchors, walk
from checks.result import Reason, State, Target
from tests import dns_estate
from tests.daemon import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def estate():
    with dns_estate.estate() as e:
        yield e


def check(estate, domain: str, **settings):
    settings = {**estate.ipv6_ports(), **settings}
    settings.setdefault("query_timeout", 3)
    s = DomainSettings(resolver=[estate.resolver], trust_anchor=estate.trust_anchor, **settings)
    return run(Target("svc", "dns:" + domain), s)


def states(result) -> dict[str, str]:
    return {k: m["state"] for k, m in result.evidence["markers"].items()}


def test_a_well_kept_domain_passes_every_marker_with_grade_a(estate):
    result = check(estate, "gut.de", dkim_selectors=["sel1", "ed"])
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    assert set(states(result).values()) == {"pass"} and len(states(result)) == 12
    assert result.evidence["grade"] == "A" and result.measurements["grade"] == 0.0
    assert [s["zone"] for s in result.evidence["dnssec"]["chain"]] == [".", "de.", "gut.de."]
    assert result.evidence["markers"]["spf"]["detail"] == "1 DNS-Abfragen, endet mit -all"
    assert result.evidence["markers"]["dmarc"]["detail"] == "p=reject, rua=dmarc@gut.de"
    assert result.evidence["markers"]["dkim"]["detail"] == "sel1: rsa 2048 Bit, ed: ed25519 256 Bit"
    assert result.evidence["markers"]["starttls"]["detail"] == "mail.gut.de: TLSv1.3 TLS_AES_256_GCM_SHA384"
    assert result.evidence["markers"]["dane"]["detail"] == "mail.gut.de: TLSA 3 1 1 passt zum Zertifikat"
    assert result.evidence["records"]["mta_sts"] == ('"v=STSv1; id=20261205"',)  # reported
    assert result.evidence["records"]["tls_rpt"] == ('"v=TLSRPTv1; rua=mailto:tlsrpt@gut.de"',)
    assert dict(result.evidence["records"]["mta_sts_policy"]) == {  # fetched over HTTPS, certificate verified
        "url": "https://mta-sts.gut.de/.well-known/mta-sts.txt", "status": 200, "mode": "enforce", "max_age": 604800,
        "mx": ("mail.gut.de",)}


def test_mail_transport_without_starttls_a_weak_or_missing_dkim_key_and_unsafe_dane_fail(estate):
    plain = check(estate, "gut.de", smtp_port=estate.smtp_plain, dkim_selectors=["sel1", "schwach", "fehlt"])
    markers = plain.evidence["markers"]
    assert markers["starttls"]["state"] == "fail" and markers["starttls"]["detail"] == "mail.gut.de: bietet kein STARTTLS an"
    assert markers["dane"]["detail"] == "kein Mailserver mit STARTTLS: DANE nicht möglich"
    assert markers["dkim"]["state"] == "fail"
    assert markers["dkim"]["detail"] == ("schwach: RSA-Schlüssel mit 1024 Bit (mindestens 2048); fehlt: kein "
                                         "DKIM-Schlüssel unter fehlt._domainkey.gut.de")
    assert "TLS 1.2/1.3" in markers["starttls"]["fix"]
    wrong = check(estate, "zuviel.de").evidence["markers"]["dane"]
    assert (wrong["state"], wrong["detail"]) == ("fail", "mail.zuviel.de: kein TLSA-Eintrag passt zum vorgelegten Zertifikat")
    unsigned = check(estate, "unsigniert.de").evidence["markers"]["dane"]
    assert unsigned["detail"] == "mail.unsigniert.de: TLSA nicht mit DNSSEC abgesichert (ohne Signatur wertlos)"
    assert check(estate, "gut.de").evidence["markers"]["dkim"]["state"] == "unknown"  # selectors cannot be found


def test_an_unsigned_careless_domain_fails_what_it_lacks_and_says_how_to_fix_it(estate):
    result = check(estate, "unsigniert.de")
    assert (result.state, result.reason) == (State.DEGRADED, Reason.NONCOMPLIANT)
    assert states(result) == {"dnssec_signed": "fail", "dnssec_valid": "fail", "caa_present": "fail",
                              "ipv6_ns": "fail", "ipv6_web": "fail", "ipv6_mx": "fail", "mx": "pass", "spf": "fail",
                              "dmarc": "fail", "dkim": "unknown", "starttls": "pass", "dane": "fail"}
    markers = result.evidence["markers"]
    assert markers["dnssec_signed"]["detail"] == "unsigniert.de. ist nicht signiert: kein DS-Eintrag in der Elternzone"
    assert markers["spf"]["detail"] == "nicht abschließend (0 DNS-Abfragen, endet mit +all): ~all oder -all nötig"
    assert markers["dmarc"]["detail"] == "kein DMARC-Eintrag (_dmarc)"
    assert markers["ipv6_web"]["detail"] == "ohne AAAA: unsigniert.de, www.unsigniert.de"
    assert "DS-Eintrag beim Registrar" in markers["dnssec_signed"]["fix"]
    assert result.evidence["grade"] == "F" and "Note F" in result.evidence["detail"]


@pytest.mark.parametrize(("domain", "why"), [
    ("kaputt.de", "kaputt.de. SOA: Signatur ungültig"),
    ("abgelaufen.de", "abgelaufen.de. DNSKEY: Signatur abgelaufen am "),
])
def test_a_broken_or_expired_signature_fails_validity_names_the_record_and_grades_f(estate, domain, why):
    result = check(estate, domain)
    assert states(result)["dnssec_signed"] == "pass" and states(result)["dnssec_valid"] == "fail"
    assert result.evidence["markers"]["dnssec_valid"]["detail"].startswith(why)
    assert result.evidence["grade"] == "F"  # validating resolvers cannot reach it at all
    # SPF is not judged on the records that failed validation: a receiver's resolver gets SERVFAIL
    assert states(result)["spf"] == "unknown" and "SERVFAIL" in result.evidence["markers"]["spf"]["detail"]


def test_a_domain_that_sends_no_mail_is_held_to_the_non_sending_rules(estate):
    assert set(states(check(estate, "keinepost.de", sends_mail=False)).values()) == {"pass"}
    sending = check(estate, "keinepost.de")  # the same records for a domain that says it sends mail
    assert states(sending)["mx"] == "fail" and states(sending)["dmarc"] == "pass"  # p=reject with rua suits both
    assert sending.evidence["markers"]["mx"]["detail"] == "Null-MX, obwohl die Domain E-Mail sendet"
    good_for_sending = check(estate, "gut.de", sends_mail=False)  # MX and a DMARC with rua: not a null domain
    assert states(good_for_sending)["mx"] == "fail" and states(good_for_sending)["spf"] == "fail"
    assert "v=spf1 -all" in good_for_sending.evidence["markers"]["spf"]["detail"]


def test_ipv6_means_an_aaaa_record_and_a_connection_over_ipv6_to_every_address(estate):
    import socket

    with socket.socket(socket.AF_INET6) as probe:  # a port on ::1 nobody listens on
        probe.bind(("::1", 0))
        closed = probe.getsockname()[1]
    markers = ["ipv6_ns", "ipv6_web", "ipv6_mx"]
    good = check(estate, "gut.de", markers=markers).evidence["markers"]
    assert {k: m["detail"] for k, m in good.items()} == dict.fromkeys(markers, "alle mit AAAA und über IPv6 erreichbar")
    assert [dict(e) for e in good["ipv6_ns"]["evidence"]] == [{
        "host": "ns1.gut.de", "aaaa": True, "port": estate.ipv6_ports()["ns_port"], "addresses": ("::1",), "reached": True}]
    refused = check(estate, "gut.de", markers=markers, web_port=closed).evidence["markers"]
    assert refused["ipv6_ns"]["state"] == "pass" and refused["ipv6_web"]["state"] == "fail"
    assert refused["ipv6_web"]["detail"] == (f"über IPv6 nicht erreichbar: gut.de ([::1]:{closed} Verbindung abgelehnt), "
                                             f"www.gut.de ([::1]:{closed} Verbindung abgelehnt)")
    assert "Abhilfe" not in refused["ipv6_web"]["detail"] and refused["ipv6_web"]["fix"]
    aaaa_only = check(estate, "gut.de", markers=markers, web_port=closed, ipv6_connect=False).evidence["markers"]
    assert {m["detail"] for m in aaaa_only.values()} == {"alle mit AAAA"}


def test_dane_for_a_mail_host_in_another_zone_follows_that_zones_own_chain(estate):
    """A municipality whose mail is run by a provider: the provider's TLSA record counts when the
    provider's zone is signed (its chain walked from the anchor), not when it is unsigned."""
    provider = check(estate, "extern.gen.de", markers=["dane"]).evidence["markers"]["dane"]
    assert (provider["state"], provider["detail"]) == ("pass", "mail.gut.de: TLSA 3 1 1 passt zum Zertifikat")
    unsigned = check(estate, "extern-unsigniert.gen.de", markers=["dane"]).evidence["markers"]["dane"]
    assert (unsigned["state"], unsigned["detail"]) == (
        "fail", "mail.unsigniert.de: TLSA nicht mit DNSSEC abgesichert (ohne Signatur wertlos)")


def test_an_mta_sts_policy_is_fetched_checked_against_the_mx_hosts_and_reported(estate):
    bad = check(estate, "zuviel.de", markers=["mx"]).evidence["records"]["mta_sts_policy"]
    assert bad["mode"] == "testing" and list(bad["problems"]) == [
        "Content-Type text/html statt text/plain", "max_age: 99999999 (Sekunden, höchstens 31557600)",
        "MX nicht von der Richtlinie erfasst: mail.zuviel.de"]
    untrusted = check(estate, "gut.de", markers=["mx"], ca_file=None).evidence["records"]["mta_sts_policy"]
    assert len(untrusted["problems"]) == 1 and untrusted["problems"][0].startswith("nicht abrufbar: ")
    assert "Zertifikat" in untrusted["problems"][0], untrusted  # a sending MTA would not accept it either
    assert "mta_sts_policy" not in check(estate, "keinepost.de", markers=["mx"]).evidence["records"]  # no _mta-sts


def test_dkim_needs_both_algorithms_and_dmarc_covers_subdomains_and_asks_for_reports(estate):
    """TR-03182-03-M/-04-M: RSA-SHA256 and Ed25519-SHA256 key material; -06-M: quarantine or reject
    for the subdomains too (sp=), -11-M: a domain that sends no mail asks for reports as well."""
    rsa_only = check(estate, "gut.de", dkim_selectors=["sel1"], markers=["dkim"]).evidence["markers"]["dkim"]
    assert rsa_only["state"] == "fail"
    assert rsa_only["detail"] == "sel1: rsa 2048 Bit; kein Ed25519-SHA256-Schlüssel (TR-03182 verlangt beide Verfahren)"
    ed_only = check(estate, "gut.de", dkim_selectors=["ed"], markers=["dkim"]).evidence["markers"]["dkim"]
    assert ed_only["state"] == "fail" and "kein RSA-SHA256-Schlüssel" in ed_only["detail"]
    open_subdomains = check(estate, "s7.gen.de", markers=["dmarc"]).evidence["markers"]["dmarc"]  # p=quarantine; sp=none
    assert (open_subdomains["state"], open_subdomains["detail"]) == (
        "fail", "sp=none: Subdomains ungeschützt (quarantine oder reject nötig)")
    no_reports = check(estate, "s3.gen.de", sends_mail=False, markers=["dmarc"]).evidence["markers"]["dmarc"]
    assert (no_reports["state"], no_reports["detail"]) == ("fail", "keine Berichtsadresse (rua)")  # p=reject, no rua
    assert states(check(estate, "s0.gen.de", sends_mail=False, markers=["dmarc"])) == {"dmarc": "pass"}


def test_spf_over_ten_lookups_and_an_unenforced_dmarc_fail(estate):
    result = check(estate, "zuviel.de", dkim_selectors=["x"])
    assert states(result)["spf"] == "fail" and "12/10" in result.evidence["markers"]["spf"]["detail"]
    assert result.evidence["markers"]["dmarc"]["detail"] == "p=none (quarantine oder reject nötig); keine Berichtsadresse (rua)"
    assert states(result)["caa_present"] == "fail" and states(result)["dane"] == "fail"
    assert result.evidence["grade"] == "F"  # five failing: CAA, SPF, DMARC, DANE, DKIM (no such selector)


def test_a_domain_that_does_not_exist_is_unknown_not_a_verdict(estate):
    result = check(estate, "gibtsnicht.de")
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.DNS)
    assert result.evidence["detail"] == "gibtsnicht.de: existiert nicht (NXDOMAIN)"


def test_the_monitors_dnssec_verdict_equals_the_resolvers_own_validation_on_every_zone(estate):
    resolver = Resolver([estate.resolver], 3)
    anchors = load_anchors(estate.trust_anchor)
    for domain in dns_estate.DOMAINS:
        ours = check(estate, domain).evidence["dnssec"]["outcome"]
        theirs = resolver.ask(domain, "SOA", validate=True)
        unbound = "bogus" if theirs.rcode == 2 else "secure" if theirs.ad else "insecure"
        assert ours == unbound, domain
        assert walk(resolver, domain, anchors).outcome in ("secure", "insecure", "bogus")


def test_dnssec_is_validated_from_the_configured_anchor_not_from_the_resolvers_word(estate):
    """With IANA's real root anchors the test root is a stranger: the chain is bogus at the root,
    although the resolver (trusting the test root) says the data is authentic."""
    resolver = Resolver([estate.resolver], 3)
    assert resolver.ask("gut.de", "SOA", validate=True).ad
    chain = walk(resolver, "gut.de", load_anchors(None))
    assert (chain.outcome, chain.detail) == ("bogus", ".: kein DNSKEY passt zum DS der Elternzone")


def test_the_kind_runs_from_the_catalog_through_the_cli_and_its_metrics_pass_promtool(tmp_path, estate):
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: rathaus
            name: Rathaus
            category: kommune
            operator: Gemeinde
            contact: it@example.invalid
            urls: ["https://www.gut.de/", "https://termine.zuviel.de/"]
            checks:
              domain: &domain {{resolver: ["{estate.resolver}"], trust_anchor: "{estate.trust_anchor}",
                                query_timeout: 3s, smtp_port: {estate.smtp_starttls},
                                ns_port: {estate.ipv6_ports()["ns_port"]}, web_port: {estate.web_port},
                                ca_file: "{estate.web_ca}"}}
          - id: termine
            name: Terminvergabe
            category: kommune
            operator: Gemeinde
            contact: it@example.invalid
            urls: ["https://termine.gut.de/"]
            checks:
              domain: *domain
    """))
    (tmp_path / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n')
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "--config", str(tmp_path / "settings.yaml"),
                          "--kind", "domain"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert "Domain gut.de: Note A" in out.stdout and "Domain zuviel.de: Note D" in out.stdout, out.stdout + out.stderr
    assert "Abhilfe: _dmarc-Eintrag mit p=quarantine" in out.stdout
    shown = " ".join(out.stdout.split())  # the console wraps long lines
    assert ("MTA-STS-Richtlinie (https://mta-sts.gut.de/.well-known/mta-sts.txt): mode=enforce, max_age=604800, "
            "mx=mail.gut.de") in shown
    assert "MX nicht von der Richtlinie erfasst: mail.zuviel.de" in shown
    # two services on gut.de, one run: the other's result says whose it is
    assert shown.count("Domain gut.de: Note A") == 2
    assert "Domain gut.de: Note A (Lauf von Dienst rathaus geteilt)" in shown or \
        "Domain gut.de: Note A (Lauf von Dienst termine geteilt)" in shown, shown
    from monitor.config import load_config
    from monitor.metrics import ResultCollector
    from monitor.store import Store
    from tests.helpers import KINDS

    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, KINDS)
    for domain in ("gut.de", "zuviel.de"):
        store.record(check(estate, domain).replace(service_id="rathaus"))
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    text = generate_latest(registry).decode()
    store.close()
    assert 'egov_domain_grade{category="kommune",service="rathaus",url="dns:zuviel.de"} 3.0' in text, text
    assert 'egov_domain_marker_passed{category="kommune",marker="dane",service="rathaus",url="dns:gut.de"} 1.0' in text
    assert ('egov_domain_marker_passed{category="kommune",marker="dmarc",service="rathaus",url="dns:zuviel.de"} 0.0'
            in text)
    promtool = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    assert GRADES[3] == "D"


# Where the monitor's SPF and DMARC verdicts differ from checkdmarc's "valid" on purpose: checkdmarc
# judges the record's syntax and RFC limits; TR-03182 asks more of a domain that sends mail.
DELIBERATE = {
    "spf-not-closed": "SPF gültig, endet aber nicht mit ~all oder -all (TR-03182: ~all oder -all)",
    "dmarc-not-enforced": "DMARC gültig, aber p=none oder ohne p (TR-03182: quarantine oder reject)",
    "dmarc-no-rua": "DMARC gültig, aber ohne rua (TR-03182: Berichtsadresse)",
    "dmarc-subdomains-open": "DMARC gültig, aber sp=none (TR-03182-06-M: auch für Subdomains)",
}


def test_spf_and_dmarc_verdicts_equal_checkdmarcs_but_for_the_documented_differences(estate):
    import dns.resolver
    from checkdmarc import dmarc, spf

    host, port = estate.resolver.split(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [host], int(port), 3
    agree, differences = {"spf": 0, "dmarc": 0}, {}
    for i in range(dns_estate.GENERATED):
        domain = f"s{i}.gen.de"
        ours = states(check(estate, domain, markers=["spf", "dmarc"]))
        theirs_spf = spf.check_spf(domain, resolver=resolver)
        theirs_dmarc = dmarc.check_dmarc(domain, resolver=resolver)
        for marker, theirs in (("spf", theirs_spf), ("dmarc", theirs_dmarc)):
            valid = bool(theirs.get("valid") and theirs.get("record"))
            if (ours[marker] == "pass") == valid:
                agree[marker] += 1
                continue
            assert valid and ours[marker] == "fail", (domain, marker, ours, theirs)  # never pass what it calls invalid
            if marker == "spf":
                why = "spf-not-closed" if (theirs.get("parsed") or {}).get("all") not in ("fail", "softfail") else "?"
            else:
                tags = theirs.get("tags") or {}
                why = ("dmarc-not-enforced" if (tags.get("p") or {}).get("value") not in ("quarantine", "reject")
                       else "dmarc-no-rua" if not (tags.get("rua") or {}).get("value")
                       else "dmarc-subdomains-open" if (tags.get("sp") or {}).get("value") == "none" else "?")
            assert why in DELIBERATE, (domain, marker, ours, theirs)
            differences.setdefault(why, []).append(domain)
    assert min(agree.values()) >= 30, agree  # each marker the same on at least 30 generated records
    assert set(differences) == set(DELIBERATE)  # each documented difference occurs, and nothing else


def test_a_mail_host_that_never_speaks_costs_at_most_the_runs_timeout(estate):
    """A silent SMTP port (accepts, says nothing): STARTTLS is not determinable, the run ends
    within its timeout and the DNS markers still stand."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue
    threading.Thread(target=accept, daemon=True).start()
    try:
        t0 = time.monotonic()
        result = check(estate, "gut.de", smtp_port=listener.getsockname()[1], timeout=6, query_timeout=2)
        took = time.monotonic() - t0
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()
    assert took < 6 + 3, f"{took:.1f} s"
    markers = result.evidence["markers"]
    assert markers["starttls"]["state"] == "unknown" and "nicht erreichbar" in markers["starttls"]["detail"]
    assert markers["dane"]["state"] == "unknown"
    assert markers["dnssec_valid"]["state"] == "pass" and markers["dmarc"]["state"] == "pass"


def test_services_sharing_a_domain_share_one_run_within_share_for(estate):
    """A Land's portal domain used by many services is asked once per window, not once per service."""
    import checks.domain

    checks.domain._SHARED.clear()  # what the tests above ran for their service "svc"
    def shared(service: str, domain: str = "keinepost.de", **settings):
        settings = {**estate.ipv6_ports(), "query_timeout": 3, "sends_mail": False, **settings}
        return run(Target(service, "dns:" + domain),
                   DomainSettings(resolver=[estate.resolver], trust_anchor=estate.trust_anchor, **settings))
    first = shared("gewerbe")
    second = shared("wohngeld")
    assert "shared_from" not in first.evidence and second.evidence["shared_from"] == "gewerbe"
    assert (second.service_id, second.started_at, second.state) == ("wohngeld", first.started_at, first.state)
    assert second.evidence["markers"] == first.evidence["markers"]
    assert "shared_from" not in shared("gewerbe").evidence  # the same service again: a run of its own
    assert "shared_from" not in shared("hund", dkim_selectors=["ed"]).evidence  # other settings: its own run
    assert "shared_from" not in shared("kita", share_for=0).evidence
    gone = shared("gewerbe", "gibtsnicht.de")  # not determinable: the next service asks again
    assert gone.state == State.UNKNOWN and "shared_from" not in shared("wohngeld", "gibtsnicht.de").evidence


def test_the_cli_and_the_daemon_start_without_the_dns_over_https_stack():
    """dnspython loads httpx and trio for DNS over HTTPS whenever they are installed (Selenium
    brings them): a fifth of a second at every start of the CLI and the daemon, for a transport
    the domain checks never use. Their UDP and TCP queries are tested above."""
    probe = ("import sys, monitor.cli, monitor.daemon, checks.domain\n"
             "print(sorted(m for m in ('httpx', 'httpx2', 'httpcore', 'httpcore2', 'trio', 'h2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
