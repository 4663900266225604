"""German titles of the Observatory's tests and the fix for each failed expectation: what an
operator reads in `egov-monitor check`, the report and the alerts."""

from __future__ import annotations

TEST_TITLES = {
    "content-security-policy": "Content-Security-Policy",
    "cookies": "Cookies",
    "cross-origin-resource-sharing": "CORS",
    "redirection": "Umleitung auf HTTPS",
    "referrer-policy": "Referrer-Policy",
    "strict-transport-security": "Strict-Transport-Security (HSTS)",
    "subresource-integrity": "Subresource Integrity",
    "x-content-type-options": "X-Content-Type-Options",
    "x-frame-options": "X-Frame-Options / frame-ancestors",
    "cross-origin-resource-policy": "Cross-Origin-Resource-Policy",
    "cross-origin-opener-policy": "Cross-Origin-Opener-Policy",
    "cross-origin-embedder-policy": "Cross-Origin-Embedder-Policy",
    "permissions-policy": "Permissions-Policy",
    "version-disclosure": "Versionsangaben in Headern",
}

FIXES: dict[str, tuple[str, str]] = {
    "csp-not-implemented": ("Kein Content-Security-Policy-Header.",
                            ("Header setzen, z. B. Content-Security-Policy: default-src 'self'; object-src 'none'; "
                            "frame-ancestors 'self'; form-action 'self'")),
    "csp-not-implemented-but-reporting-enabled": ("Nur Content-Security-Policy-Report-Only, keine durchgesetzte Policy.",
                                                  "Die erprobte Policy als Content-Security-Policy ausliefern."),
    "csp-header-invalid": (("Content-Security-Policy ist nicht auswertbar (z. B. doppelte Direktive, 'strict-dynamic' "
                           "ohne Nonce/Hash)."), "Jede Direktive nur einmal; 'strict-dynamic' nur mit 'nonce-…' oder Hash."),
    "csp-implemented-with-unsafe-inline": ("CSP erlaubt Inline-Skripte oder zu breite Quellen in script-src/object-src.",
                                           ("'unsafe-inline', data:, https: und * aus script-src entfernen, "
                                           "object-src 'none' setzen, Nonces oder Hashes verwenden.")),
    "csp-implemented-with-insecure-scheme": ("CSP erlaubt das Laden von Ressourcen über http: oder ftp:.",
                                             "Nur https:-Quellen eintragen."),
    "csp-implemented-with-unsafe-eval": ("CSP erlaubt 'unsafe-eval'.", "eval() im Code ersetzen und 'unsafe-eval' entfernen."),
    "csp-implemented-with-insecure-scheme-in-passive-content-only": (
        "CSP erlaubt Bilder oder Medien über http:.", "In img-src und media-src nur https:-Quellen zulassen."),
    "csp-implemented-with-unsafe-inline-in-style-src-only": ("CSP erlaubt Inline-Styles oder breite Quellen in style-src.",
                                                             "'unsafe-inline' und data: aus style-src entfernen."),
    "csp-implemented-with-no-unsafe": ("CSP ohne unsichere Quellen, aber nicht mit default-src 'none'.",
                                       "Für die Bestnote default-src 'none' setzen und benötigte Quellen einzeln freigeben."),
    "csp-implemented-but-duplicate-directives": ("report-uri/report-to mehrfach angegeben.", "Doppelte Direktiven entfernen."),
    "cookies-without-secure-flag-but-protected-by-hsts": ("Cookies ohne Secure-Attribut (HSTS schützt sie).",
                                                          "Set-Cookie: …; Secure"),
    "cookies-session-without-secure-flag-but-protected-by-hsts": ("Sitzungs-Cookie ohne Secure-Attribut (HSTS schützt es).",
                                                                  "Set-Cookie: <Sitzung>=…; Secure; HttpOnly; SameSite=Lax"),
    "cookies-without-secure-flag": ("Cookies ohne Secure-Attribut oder über HTTP gesetzt.",
                                    "Set-Cookie: …; Secure und HSTS einrichten."),
    "cookies-samesite-flag-invalid": ("SameSite-Attribut ungültig oder SameSite=None ohne Secure.",
                                      "SameSite=Lax oder SameSite=Strict verwenden."),
    "cookies-anticsrf-without-samesite-flag": ("CSRF-Token-Cookie ohne SameSite.", "Set-Cookie: …; SameSite=Strict"),
    "cookies-session-without-httponly-flag": ("Sitzungs-Cookie ohne HttpOnly.", "Set-Cookie: <Sitzung>=…; HttpOnly"),
    "cookies-session-without-secure-flag": ("Sitzungs-Cookie ohne Secure-Attribut.",
                                            "Set-Cookie: <Sitzung>=…; Secure; HttpOnly; SameSite=Lax"),
    "cookies-secure-with-httponly-sessions": ("Cookies ohne SameSite-Attribut.", "SameSite=Lax oder Strict ergänzen."),
    "cross-origin-resource-sharing-implemented-with-universal-access": (
        "CORS spiegelt beliebige Origins mit Access-Control-Allow-Credentials: true (CSRF-Gefahr).",
        "Access-Control-Allow-Origin nur für bekannte Origins setzen oder Credentials nicht erlauben."),
    "redirection-missing": ("HTTP leitet nicht auf HTTPS um.", "HTTP mit 301 auf https:// desselben Hosts umleiten."),
    "redirection-not-to-https": ("Die Umleitung endet nicht auf HTTPS.", "Auf https:// desselben Hosts umleiten."),
    "redirection-not-to-https-on-initial-redirection": ("Erste Umleitung führt auf eine andere HTTP-URL.",
                                                        "Zuerst auf https:// desselben Hosts umleiten, dann weiter."),
    "redirection-off-host-from-http": ("HTTP leitet direkt auf einen anderen Host um; HSTS greift so nicht.",
                                       "Zuerst auf https:// desselben Hosts umleiten, dann auf den Zielhost."),
    "redirection-invalid-cert": ("Ungültiges Zertifikat in der Umleitungskette.", "Gültiges Zertifikat installieren."),
    "referrer-policy-unsafe": ("Referrer-Policy gibt vollständige URLs an Dritte weiter.",
                               "Referrer-Policy: strict-origin-when-cross-origin (oder no-referrer)"),
    "referrer-policy-header-invalid": ("Referrer-Policy nicht erkannt.", "Referrer-Policy: strict-origin-when-cross-origin"),
    "referrer-policy-not-implemented": ("Keine Referrer-Policy.", "Referrer-Policy: strict-origin-when-cross-origin"),
    "hsts-not-implemented": ("Kein Strict-Transport-Security-Header.",
                             "Strict-Transport-Security: max-age=31536000; includeSubDomains"),
    "hsts-implemented-max-age-less-than-six-months": ("HSTS max-age unter sechs Monaten (15552000 s).",
                                                      "Strict-Transport-Security: max-age=31536000; includeSubDomains"),
    "hsts-header-invalid": ("Strict-Transport-Security nicht auswertbar (kein max-age oder doppelt gesetzt).",
                            "Genau ein Header: Strict-Transport-Security: max-age=31536000"),
    "hsts-not-implemented-no-https": ("Seite nicht über HTTPS erreichbar, HSTS unmöglich.", "HTTPS einrichten."),
    "hsts-invalid-cert": ("HSTS wirkungslos: ungültiges Zertifikat.", "Gültiges Zertifikat installieren."),
    "sri-not-implemented-but-external-scripts-loaded-securely": (
        "Externe Skripte ohne Subresource Integrity.", "<script src=… integrity=\"sha384-…\" crossorigin=\"anonymous\">"),
    "sri-implemented-but-external-scripts-not-loaded-securely": ("Externe Skripte über HTTP oder protokollrelativ geladen.",
                                                                 "Externe Skripte nur über https:// laden."),
    "sri-not-implemented-and-external-scripts-not-loaded-securely": (
        "Externe Skripte über HTTP und ohne Subresource Integrity.",
        "Über https:// laden und integrity=\"sha384-…\" ergänzen – oder selbst hosten."),
    "x-content-type-options-not-implemented": ("Kein X-Content-Type-Options.", "X-Content-Type-Options: nosniff"),
    "x-content-type-options-header-invalid": ("X-Content-Type-Options ungültig.", "X-Content-Type-Options: nosniff"),
    "x-frame-options-not-implemented": ("Kein Schutz vor Clickjacking.",
                                        "Content-Security-Policy: frame-ancestors 'self' (oder X-Frame-Options: DENY)"),
    "x-frame-options-header-invalid": ("X-Frame-Options ungültig.", "Content-Security-Policy: frame-ancestors 'self'"),
    "corp-header-invalid": ("Cross-Origin-Resource-Policy ungültig.", "Cross-Origin-Resource-Policy: same-site"),
    "coop-header-invalid": ("Cross-Origin-Opener-Policy ungültig.", "Cross-Origin-Opener-Policy: same-origin"),
    "coep-header-invalid": ("Cross-Origin-Embedder-Policy ungültig.", "Cross-Origin-Embedder-Policy: require-corp"),
    "permissions-policy-not-implemented": ("Keine Permissions-Policy.",
                                           "Permissions-Policy: camera=(), microphone=(), geolocation=()"),
    "version-disclosed": ("Server-Software mit Versionsnummer in Headern.",
                          ("Versionsangaben abschalten (nginx: server_tokens off; Apache: ServerTokens Prod; "
                          "PHP: expose_php = Off).")),
}

SECURITY_TXT_FIX = ("RFC 9116: /.well-known/security.txt mit Contact und Expires (weniger als ein Jahr in der "
                    "Zukunft), über HTTPS, als text/plain.")
