"""What the configuration checks in the environment of the process: the files settings.yaml
names (CA bundles) and the browser driver the catalog's browser checks need."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from checks.browser_settings import executable
from monitor.config.models import Settings
from monitor.config_issues import ConfigIssue


def browser_issues(settings: Settings, settings_file: Path, line: Callable[[str], int | None],
                   browser_users: Sequence[str], configured: Collection[str]) -> list[ConfigIssue]:
    """The problems when services with browser checks would find no chromedriver or Chromium
    (none without a Grid). The headless shell counts only when settings.yaml names it
    (`configured`): the default one missing only means the full Chromium runs every session."""
    browser = settings.browser
    if not browser_users or browser.remote_url is not None:
        return []
    users = ", ".join(browser_users[:3])
    needed = (("chromedriver", browser.chromedriver, "ausführbarer chromedriver", "chromium-driver",
               "den Pfad korrigieren"),
              ("chromium", browser.chromium, "ausführbares Chromium", "chromium", "den Pfad korrigieren"),
              ("headless_shell", browser.headless_shell if "headless_shell" in configured else None,
               "ausführbares Chromium", "chromium-headless-shell",
               "den Pfad korrigieren oder browser.headless_shell leer lassen (dann läuft überall das volle Chromium)"))
    return [ConfigIssue(str(settings_file), line(field), None, f"browser.{field}",
                        f"{path} ist kein {what}, Browser-Prüfungen von {users} könnten nicht laufen; Debian-Paket "
                        f"{package} installieren, {fix} oder browser.remote_url auf ein Selenium Grid setzen")
            for field, path, what, package, fix in needed if path is not None and not executable(path)]


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
