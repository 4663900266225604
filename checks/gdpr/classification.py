"""First or third party, tracker or not, and the summary of a pass over a service's pages."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from checks.gdpr import cookies as cookie_attempts
from checks.gdpr.party import party
from checks.gdpr.settings import GdprSettings, TrackerEntry

if TYPE_CHECKING:
    from checks.gdpr.recording import PageCapture

# --------------------------------------------------------------------------- classification


def tracker_for(host: str, trackers: dict[str, TrackerEntry]) -> TrackerEntry | None:
    labels = host.lower().strip(".").split(".")
    for i in range(len(labels) - 1):
        entry = trackers.get(".".join(labels[i:]))
        if entry is not None:
            return entry
    return None


@dataclasses.dataclass(slots=True)
class Summary:
    """One pass over the service's pages, folded: hosts, cookies and storage, each once."""

    hosts: dict[str, dict[str, Any]]
    cookies: dict[tuple[str, str, str], dict[str, Any]]
    storage: dict[tuple[str, str, str], dict[str, Any]]
    requests: int

    def third_party_hosts(self) -> list[dict[str, Any]]:
        return [h for h in self.hosts.values() if h["party"] == "third"]

    def trackers(self) -> list[dict[str, Any]]:
        return [h for h in self.hosts.values() if h.get("category") and h["party"] == "third"]

    def cookies_of(self, party_: str, necessary: bool | None = None) -> list[dict[str, Any]]:
        return [c for c in self.cookies.values()
                if c["party"] == party_ and (necessary is None or c["necessary"] == necessary)]

    def nonessential_storage(self) -> list[dict[str, Any]]:
        return [s for s in self.storage.values() if not s["necessary"]]

    def counts(self) -> dict[str, int]:
        return {"requests": self.requests, "third_party_hosts": len(self.third_party_hosts()),
                "trackers": len(self.trackers()), "third_party_cookies": len(self.cookies_of("third")),
                "first_party_cookies": len(self.cookies_of("first")),
                "nonessential_cookies": len(self.cookies_of("first", necessary=False)),
                "cookies_refused": sum(1 for c in self.cookies.values() if not c["stored"]),
                "storage_keys": len(self.nonessential_storage())}

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "hosts": sorted(self.hosts.values(), key=lambda h: (h["party"], h["host"])),
                "cookies": list(self.cookies.values()), "storage": list(self.storage.values())}


def summarize(pages: list[PageCapture], settings: GdprSettings) -> Summary:
    trackers = settings.tracker_map
    necessary = settings.necessary_patterns
    hosts: dict[str, dict[str, Any]] = {}
    cookies: dict[tuple[str, str, str], dict[str, Any]] = {}
    storage: dict[tuple[str, str, str], dict[str, Any]] = {}
    total = 0
    for page in pages:
        if page.final_url.startswith("chrome-error:") or (page.error and not page.final_url):
            continue  # nothing was loaded: nothing to judge
        site = page.site
        for req in page.requests:
            total += 1
            h = hosts.get(req.host)
            if h is None:
                entry = tracker_for(req.host, trackers)
                h = hosts[req.host] = {"host": req.host, "party": party(req.host, site, settings), "requests": 0,
                                       "example": req.url, "page": page.url, "types": []}
                if entry is not None:
                    h.update(category=entry.category, owner=entry.owner, listed_as=entry.domain)
            h["requests"] += 1
            if req.type not in h["types"] and len(h["types"]) < 8:
                h["types"].append(req.type)
        for c in page.cookies:
            row = {**cookie_attempts.to_dict(c), "party": party(c.domain, site, settings),
                   "necessary": bool(necessary.fullmatch(c.name)), "page": page.url}
            old = cookies.get(c.key)
            if old is None or (row["stored"] and not old["stored"]):
                cookies[c.key] = row
        for s in page.storage:
            key = (s["origin"], s["kind"], s["key"])
            if key not in storage:
                storage[key] = {**s, "necessary": bool(necessary.fullmatch(s["key"])), "page": page.url,
                                "party": party(urlsplit(s["origin"]).hostname or "", site, settings)}
    return Summary(hosts, cookies, storage, total)
