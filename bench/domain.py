"""Benchmark: the domain kind against checkdmarc, side by side on the same local zones.

The estate of tests/dns_estate.py (Knot serving a signed test root and zones, Unbound trusting
only it; nothing leaves the machine): the named test domains and `--generated` subdomains of
gen.de with generated SPF and DMARC records. Each round (alternating which side goes first) runs
this tree's `domain` check on every domain, one after another (each round cold: the kept parent
keys and the mail lookups' cache emptied; checkdmarc's resolver gets a fresh cache of the same
kind, so within a round both sides cache by TTL), with the DNS markers (DNSSEC
validated by the monitor from the anchor, CAA, IPv6 with a connection to every address, MX, SPF,
DMARC, the MTA-STS policy fetched: STARTTLS, DANE and DKIM left out, as checkdmarc is run without
its TLS probe), and `checkdmarc.check_domains` on the same
domains with the same resolver. Printed: domains per minute of each side (median over the rounds),
the ratio, and how many SPF and DMARC verdicts agree (the others must be the documented
deliberate differences, docs/checks.md). Goal: at least as fast, the same verdicts.

    python -m bench.domain [--rounds 3] [--generated 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import dns.resolver

from checks.domain import DomainSettings, resolve, run
from checks.result import Target
from tests import dns_estate

DNS_MARKERS = ["dnssec_signed", "dnssec_valid", "caa_present", "ipv6_ns", "ipv6_web", "ipv6_mx", "mx", "spf", "dmarc"]


def _cold_checkdmarc() -> None:
    """Empty checkdmarc's process-wide caches (its DNS answers are kept 30 minutes): without this
    the side that runs second in a round reads what the first one asked."""
    import sys

    from expiringdict import ExpiringDict

    for name, module in list(sys.modules.items()):
        if name.startswith("checkdmarc"):
            for value in vars(module).values():
                if isinstance(value, ExpiringDict):
                    value.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generated", type=int, default=40)
    args = parser.parse_args()
    import checkdmarc

    with dns_estate.estate() as estate:
        domains = [*dns_estate.DOMAINS, *(f"s{i}.gen.de" for i in range(min(args.generated, dns_estate.GENERATED)))]
        settings = DomainSettings(resolver=[estate.resolver], trust_anchor=estate.trust_anchor, query_timeout=3,
                                  markers=DNS_MARKERS, **estate.ipv6_ports())  # IPv6 connections, MTA-STS policies
        host, port = estate.resolver.split(":")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = [host], int(port), 3

        def ours() -> dict[str, dict[str, str]]:
            resolve._KEYS.clear()  # each round starts cold, within it both sides cache (by TTL)
            _cold_checkdmarc()  # our SPF and DMARC go through checkdmarc too
            return {d: {k: m["state"] for k, m in run(Target("b", "dns:" + d), settings).evidence.get("markers", {}).items()}
                    for d in domains}

        def theirs() -> dict[str, dict[str, bool]]:
            resolver.cache = dns.resolver.LRUCache(20_000)
            _cold_checkdmarc()
            got = checkdmarc.check_domains(domains, resolver=resolver, skip_tls=True, timeout=3)
            results = got if isinstance(got, list) else [got]
            return {r["domain"].rstrip("."): {"spf": bool(r["spf"].get("valid") and r["spf"].get("record")),
                                               "dmarc": bool(r["dmarc"].get("valid") and r["dmarc"].get("record"))}
                    for r in results}

        seconds: dict[str, list[float]] = {"egov-monitor": [], "checkdmarc": []}
        verdicts: tuple[dict, dict] = ({}, {})
        for round_ in range(args.rounds):
            order = [("egov-monitor", ours), ("checkdmarc", theirs)]
            for name, side in order if round_ % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                got = side()
                seconds[name].append(time.perf_counter() - t0)
                verdicts = (got, verdicts[1]) if name == "egov-monitor" else (verdicts[0], got)
            print(f"round {round_ + 1}: egov-monitor {seconds['egov-monitor'][-1]:.2f} s, "
                  f"checkdmarc {seconds['checkdmarc'][-1]:.2f} s for {len(domains)} domains", flush=True)
    per_min = {name: 60 * len(domains) / statistics.median(s) for name, s in seconds.items()}
    mine, other = verdicts
    same = total = 0
    for domain, theirs_v in other.items():
        for marker in ("spf", "dmarc"):
            state = mine.get(domain, {}).get(marker)
            if state in (None, "unknown"):
                continue
            total += 1
            same += (state == "pass") == theirs_v[marker]
    print(f"domains per minute: egov-monitor {per_min['egov-monitor']:.0f} (DNSSEC validated itself, CAA, IPv6, "
          f"MX, SPF, DMARC), checkdmarc {per_min['checkdmarc']:.0f} (NS, MX, SPF, DMARC, DNSSEC from the AD bit, "
          "MTA-STS, TLS-RPT, BIMI)")
    print(f"SPF and DMARC verdicts equal to checkdmarc's valid: {same} of {total} (the rest: the documented "
          "deliberate differences of TR-03182)")
    print(f"ratio domains per minute, ours/theirs: {per_min['egov-monitor'] / per_min['checkdmarc']:.2f}x "
          "(more is better; goal >= 1x)")


if __name__ == "__main__":
    main()
