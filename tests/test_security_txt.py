"""security.txt judged by RFC 9116 as the reference validator (sectxt, used by internet.nl)
judges it: one variant per rule with the finding we expect, our validity compared with
sectxt's on every variant, real OpenPGP signatures made by gpg and checked by gpgv, and an
oversized file served by a local HTTPS server."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sectxt

from checks.httpprobe import FetchOptions
from checks.security import security_txt
from tests.sites import Page, site

URL = "https://example.org/.well-known/security.txt"
NEXT = (datetime.now(UTC) + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
GOOD = f"Contact: mailto:security@example.org\nExpires: {NEXT}\n"

# name, file, expected finding ids (warnings and notices)
VARIANTS = [
    ("good", GOOD, set()),
    ("bom", "\ufeff" + GOOD, {"bom"}),
    ("no-final-newline", GOOD.rstrip("\n"), {"no-final-newline"}),
    ("crlf", GOOD.replace("\n", "\r\n"), set()),
    ("space-before-colon", GOOD.replace("Contact:", "Contact :"), {"space-before-colon"}),
    ("no-space-after-colon", GOOD.replace("Contact: ", "Contact:"), {"no-space-after-colon"}),
    ("encryption-http", GOOD + "Encryption: http://example.org/key.asc\n", {"uri-not-https"}),
    ("policy-http", GOOD + "Policy: http://example.org/policy\n", {"uri-not-https"}),
    ("acknowledgments-http", GOOD + "Acknowledgments: http://example.org/thanks\n", {"uri-not-https"}),
    ("contact-http", GOOD + "Contact: http://example.org/report\n", {"uri-not-https"}),
    ("hiring-not-a-uri", GOOD + "Hiring: jobs.example.org\n", {"not-a-uri"}),
    ("contact-not-a-uri", f"Contact: security@example.org\nExpires: {NEXT}\n", {"contact-scheme"}),
    ("contact-other-scheme", GOOD + "Contact: xmpp:security@example.org\n", {"contact-unusual-scheme"}),
    ("encryption-openpgp4fpr", GOOD + "Encryption: openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f\n", set()),
    ("languages", GOOD + "Preferred-Languages: de, en-GB, sgn-CH-DE\n", set()),
    ("language-tag", GOOD + "Preferred-Languages: de, en_US\n", {"language-tag"}),
    # well-formed but not registered (RFC 5646 § 2.2.9): 5-8 letter primary subtags are reserved
    ("language-unregistered", GOOD + "Preferred-Languages: Deutsch, Englisch\n", {"language-tag"}),
    ("language-unassigned", GOOD + "Preferred-Languages: zz\n", {"language-tag"}),
    ("language-variant", GOOD + "Preferred-Languages: de-DE-1996, zh-Hant-TW\n", set()),
    ("canonical-elsewhere", GOOD + "Canonical: https://www.example.org/.well-known/security.txt\n", {"canonical"}),
    ("canonical-self", GOOD + "Canonical: https://example.org/.well-known/security.txt\n", set()),
    ("languages-repeated", GOOD + "Preferred-Languages: de\nPreferred-Languages: en\n", {"languages-repeated"}),
    ("syntax", GOOD + "Just some words\n", {"syntax"}),
    ("empty-value", GOOD + "Policy:\n", {"empty-field"}),
    ("no-contact", f"Expires: {NEXT}\n", {"no-contact"}),
    ("no-expires", "Contact: mailto:security@example.org\n", {"no-expires"}),
    ("expires-repeated", GOOD + f"Expires: {NEXT}\n", {"expires-repeated"}),
    ("expires-space", GOOD.replace("T", " ", 1) if "T" in NEXT else GOOD, set()),
    ("expires-no-offset", f"Contact: mailto:a@example.org\nExpires: {NEXT[:-1]}\n", {"expires-invalid"}),
    ("expired", "Contact: mailto:a@example.org\nExpires: 2020-01-01T00:00:00Z\n", {"expired"}),
    ("expires-far", "Contact: mailto:a@example.org\nExpires: "
     + (datetime.now(UTC) + timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%SZ") + "\n", {"expires-far"}),
    ("csaf", GOOD + "CSAF: https://example.org/.well-known/csaf/provider-metadata.json\n", set()),
    ("csaf-path", GOOD + "CSAF: https://example.org/csaf.json\n", {"csaf-path"}),
    ("comments", "# Sicherheitsmeldungen\n" + GOOD + "\n# Ende\n", set()),
    ("broken-signature", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + GOOD
     + "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n", {"signature-malformed"}),
    ("signature-not-first", GOOD + "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
     + "-----BEGIN PGP SIGNATURE-----\n\niHUEARYIAB0WIQQ=\n-----END PGP SIGNATURE-----\n", {"signature-malformed"}),
]
# Where we deliberately differ from sectxt (README): langcodes, which sectxt asks, accepts
# "en_US", which RFC 5646's grammar does not (its separator is "-").
NOT_COMPARED = {"language-tag"}


def ids(result: security_txt.SecurityTxt) -> set[str]:
    return {f.id for f in result.findings}


@pytest.mark.parametrize(("name", "body", "expected"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_each_rule_has_its_finding(name, body, expected):
    result = security_txt.analyse(URL, 200, "text/plain; charset=utf-8", body.encode("utf-8"))
    assert ids(result) == expected


@pytest.mark.parametrize(("name", "body", "expected"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_validity_agrees_with_sectxt(name, body, expected):
    if name in NOT_COMPARED:
        assert not security_txt.analyse(URL, 200, "text/plain", body.encode()).valid
        assert sectxt.Parser(body.encode("utf-8"), urls=URL).is_valid()  # still lenient: the difference stands
        return
    ours = security_txt.analyse(URL, 200, "text/plain", body.encode("utf-8"))
    reference = sectxt.Parser(body.encode("utf-8"), urls=URL)
    assert ours.valid == reference.is_valid(), (ours.findings, reference.errors)


def test_bom_before_contact_is_named_not_contact_missing():
    result = security_txt.analyse(URL, 200, "text/plain", b"\xef\xbb\xbfContact: mailto:a@example.org\n"
                                  + f"Expires: {NEXT}\n".encode())
    assert ids(result) == {"bom"} and result.contacts == ("mailto:a@example.org",)


def test_charset_must_be_utf8():
    result = security_txt.analyse(URL, 200, "text/plain; charset=iso-8859-1", GOOD.encode())
    assert ids(result) == {"charset"} and not result.valid
    assert security_txt.analyse(URL, 200, "text/plain", GOOD.encode()).valid  # utf-8 is the default


def test_not_utf8_is_named():
    result = security_txt.analyse(URL, 200, "text/plain", GOOD.encode() + b"# Stra\xdfe\n")
    assert "encoding" in ids(result) and not result.valid
    assert not sectxt.Parser(GOOD.encode() + b"# Stra\xdfe\n").is_valid()


def test_a_canonical_that_does_not_list_the_fetched_url_makes_the_file_untrusted():
    """RFC 9116 § 2.5.2: its contents SHOULD NOT be trusted; invalid, as sectxt says too."""
    body = GOOD + "Canonical: https://www.example.org/.well-known/security.txt\n"
    result = security_txt.analyse(URL, 200, "text/plain", body.encode())
    assert ids(result) == {"canonical"} and not result.valid
    assert "RFC 9116 § 2.5.2" in result.findings[0].message and result.findings[0].severity == "warning"
    assert not sectxt.Parser(body.encode(), urls=URL).is_valid()


# --- OpenPGP signatures made by gpg, checked by gpgv ----------------------------------------

@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}

    def gpg(*args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                              input=data, env=env, capture_output=True, check=True, timeout=60).stdout

    gpg("--quick-gen-key", "egov-monitor test <security@example.org>", "ed25519", "sign", "never")
    key = home / "public.asc"
    key.write_bytes(gpg("--armor", "--export", "security@example.org"))
    yield (lambda text: gpg("--clearsign", data=text.encode())), key
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, timeout=30)


def test_signed_file_is_verified_with_the_configured_key(signer):
    sign, key = signer
    signed = sign(GOOD + "Canonical: " + URL + "\n")
    result = security_txt.analyse(URL, 200, "text/plain", signed, key_file=str(key))
    assert result.signed and result.signature == "verified" and result.valid, result.findings
    assert sectxt.Parser(signed, urls=URL).is_valid()
    # without a key the structure alone is checked
    assert security_txt.analyse(URL, 200, "text/plain", signed).signature == "well-formed"


def test_tampered_signed_file_fails_verification(signer):
    sign, key = signer
    signed = sign(GOOD).replace(b"security@example.org", b"attacker@example.net")
    result = security_txt.analyse(URL, 200, "text/plain", signed, key_file=str(key))
    assert result.signature == "invalid" and "signature-invalid" in ids(result) and not result.valid


def test_signature_from_another_key_fails(signer, tmp_path: Path):
    sign, _key = signer
    other = tmp_path / "other.asc"
    other.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZQAAABYJKwYBBAHaRw8BAQdA\n"
                     "-----END PGP PUBLIC KEY BLOCK-----\n")
    result = security_txt.analyse(URL, 200, "text/plain", sign(GOOD), key_file=str(other))
    assert result.signature == "invalid" and not result.valid


def test_data_after_the_signature(signer):
    sign, _key = signer
    result = security_txt.analyse(URL, 200, "text/plain", sign(GOOD) + b"Contact: mailto:evil@example.net\n")
    assert "signature-malformed" in ids(result) and not result.valid


# --- over the wire ---------------------------------------------------------------------------

@pytest.mark.parametrize("lines", [1200, 16000])  # about 85 KiB (judged whole) and 1.1 MiB (past the limit)
def test_a_large_file_is_read_to_one_mib_and_judged_beyond_it_never_called_incomplete(ca, lines):
    pair = ca.issue("sectxt-big", ["127.0.0.1"])
    filler = "".join(f"# Zeile {i}: " + "x" * 60 + "\n" for i in range(lines))
    body = (filler + GOOD).encode()
    routes = {"/.well-known/security.txt": Page(200, [], body, "text/plain; charset=utf-8")}
    with site(routes, tls=(pair.cert, pair.key)) as port:
        url = f"https://127.0.0.1:{port}/.well-known/security.txt"
        result = security_txt.fetch_and_analyse(url, FetchOptions(timeout=5, ca_file=str(ca.ca_file)))
    if len(body) <= security_txt.MAX_BYTES:  # no RFC rule limits the size: judged on its content, valid
        assert result.found and not result.truncated and ids(result) == set() and result.valid
        assert sectxt.Parser(body, urls=url).is_valid()
    else:
        assert result.found and result.truncated and not result.valid  # the rest was never seen
        assert ids(result) == {"too-large"}  # Contact and Expires lie beyond the cut: never "missing"
        assert "1 MiB" in result.findings[0].message
