"""What the configuration checks in the environment of the process: the files settings.yaml
names (CA bundles) and the browser driver the catalog's browser checks need."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from monitor.config.models import Settings
from monitor.config_issues import ConfigIssue


def chromedriver_issue(settings: Settings, settings_file: Path, line: int | None,
                       browser_users: Sequence[str]) -> list[ConfigIssue]:
    """The problem when services with browser checks would find no chromedriver (none without a Grid)."""
    driver = settings.browser.chromedriver
    if not browser_users or settings.browser.remote_url is not None or (driver.is_file() and os.access(driver, os.X_OK)):
        return []
    return [ConfigIssue(
        str(settings_file), line, None, "browser.chromedriver",
        f"{driver} ist kein ausführbarer chromedriver, Browser-Prüfungen von {', '.join(browser_users[:3])} "
        "könnten nicht laufen; Debian-Paket chromium-driver installieren, den Pfad korrigieren oder "
        "browser.remote_url auf ein Selenium Grid setzen")]


def chromium_issue(settings: Settings, settings_file: Path, line: Callable[[str], int | None],
                   browser_users: Sequence[str], configured: Collection[str]) -> list[ConfigIssue]:
    """The problems when services with browser checks would find no Chromium (none without a
    Grid): `chromium` always; the headless shell only when settings.yaml names it (`configured`),
    as the default one missing only means the full Chromium runs every session."""
    browser = settings.browser
    if not browser_users or browser.remote_url is not None:
        return []
    issues = []
    for field, binary in (("chromium", browser.chromium), ("headless_shell", browser.headless_shell)):
        if binary is None or (binary.is_file() and os.access(binary, os.X_OK)):
            continue
        if field == "headless_shell" and field not in configured:
            continue
        package = "chromium-headless-shell" if field == "headless_shell" else "chromium"
        fix = ("den Pfad korrigieren oder browser.headless_shell leer lassen (dann läuft überall das volle Chromium)"
               if field == "headless_shell" else "den Pfad korrigieren")
        issues.append(ConfigIssue(
            str(settings_file), line(field), None, f"browser.{field}",
            f"{binary} ist kein ausführbares Chromium, Browser-Prüfungen von {', '.join(browser_users[:3])} "
            f"könnten nicht laufen; Debian-Paket {package} installieren, {fix} oder browser.remote_url auf ein "
            "Selenium Grid setzen"))
    return issues


def trusted_ca_files(files: list[Path], settings_file: Path, line: Any) -> tuple[list[Path], list[ConfigIssue]]:
    """`browser.ca_files` made absolute (relative to settings.yaml), each checked to hold PEM CA
    certificates; the problems with file and line (`line(path)` of the settings' index)."""
    import ssl

    trusted, issues = [], []
    for i, ca_path in enumerate(files):
        ca_full = ca_path if ca_path.is_absolute() else (settings_file.parent / ca_path).resolve()
        try:
            ssl.create_default_context().load_verify_locations(cafile=str(ca_full))
        except (OSError, ssl.SSLError) as exc:
            issues.append(ConfigIssue(str(settings_file), line(("browser", "ca_files", i)), None, f"browser.ca_files.{i}",
                                      f"{ca_full}: keine lesbare PEM-Datei mit CA-Zertifikaten ({exc}); "
                                      "Pfad relativ zu settings.yaml prüfen"))
        trusted.append(ca_full)
    return trusted, issues
