"""How egov-monitor's Chromium is started: its flags, the features turned off, the hosts it
must never reach, and what a recording session (the DSGVO check) does differently. Used by
checks/browser.py, and by the benchmarks that start a Chromium the way the pool does."""

from __future__ import annotations

# Flags for a headless Chromium that stays quiet: no background traffic to Google (which
# also slows it down), no first-run UI. The sandbox stays on wherever it can: see
# `sandbox_possible()`; `--no-sandbox` is added only where it cannot (root, no user namespaces).
CHROMIUM_FLAGS = (
    "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--no-default-browser-check", "--disable-default-apps", "--disable-extensions",
    "--mute-audio", "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
    "--disable-crash-reporter", "--disable-breakpad", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection", "--no-pings",
)
# Chromium honours only the last --disable-features switch, so the list is built in one place.
# NetworkTimeServiceQuerying: the clock check against clients2.google.com.
# WebUIOmnibox*Popup: Chromium 156 builds the address bar's popups (two WebUI pages) at start,
# headless too, in a renderer of their own: ~75 MB per session for a UI nobody sees.
# BackForwardCache: a monitor never goes back, and each page left stayed alive in the
# renderer with its DOM and axe-core (docs/benchmarks.md, eighth session).
DISABLED_FEATURES = ("Translate", "OptimizationHints", "MediaRouter", "HttpsUpgrades", "NetworkTimeServiceQuerying",
                     "WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "WebUIOmniboxFullPopup", "BackForwardCache")
# What Chromium 156 still contacts on its own at start-up, flags above notwithstanding (seen
# through a recording proxy on a blank page): the on-device model manifest
# (update.googleapis.com), the account check (accounts.google.com) and a preconnect to the
# default search engine (Debian: DuckDuckGo). A monitor of public bodies must not send its
# address there, so these names never resolve in our browsers: no DNS query, no connection.
# A page's own request to one of them still shows in the DSGVO check's record, as failed.
BACKGROUND_HOSTS = ("update.googleapis.com", "accounts.google.com", "start.duckduckgo.com", "clients2.google.com",
                    "clients1.google.com", "optimizationguide-pa.googleapis.com", "edgedl.me.gvt1.com",
                    "redirector.gvt1.com", "safebrowsing.googleapis.com", "content-autofill.googleapis.com")
# V8 for the pooled page scans (not for recording or page-experience sessions, which measure
# what a person's Chrome does): semi-spaces of at most 2 MB instead of V8's 16 MB. axe-core
# allocates fast, so V8 grew each page renderer's young generation to its maximum (~57 MB seen in
# its smaps) and kept it: with two sessions ~200 MB less at the peak, at the same pages per minute
# (docs/benchmarks.md).
SCAN_JS_FLAGS = ("--max-semi-space-size=2",)
# A recording session (the DSGVO check) runs every frame in one renderer, so the DevTools
# network events of the top page include what cross-site frames load (a YouTube embed's
# own requests), and it accepts third-party cookies as a default Chrome profile does, so
# what a site tries to store shows up.
RECORDING_FEATURES = ("IsolateOrigins", "site-per-process")
RECORDING_FLAGS = ("--disable-site-isolation-trials",)
RECORDING_PREFS = {"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": False}
