"""settings.yaml `browser:`: how browser checks get a Chromium, and whether its sandbox can work
here. Imported through `checks.browser`."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from checks.settings import ByteSize, PositiveDuration


def executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


class BrowserSettings(BaseModel):
    """settings.yaml `browser:` how browser checks get a Chromium."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chromedriver: Path = Field(Path("/usr/bin/chromedriver"), description="Local chromedriver (Debian: chromium-driver).")
    chromium: Path | None = Field(Path("/usr/bin/chromium"), description=(
        "Local Chromium binary; empty = chromedriver's default. Runs what must behave as a person's browser: the "
        "recording sessions (DSGVO, journeys) and the page-experience measurements."))
    headless_shell: Path | None = Field(Path("/usr/bin/chromium-headless-shell"), description=(
        "Chromium's headless shell (Debian chromium-headless-shell) for the other pooled page scans "
        "(accessibility, AI Act, statement and legal pages): ~25 % more pages a minute and ~20 % less memory "
        "(docs/benchmarks.md). Empty = `chromium` for every session; the default when it is not installed."))
    remote_url: AnyHttpUrl | None = Field(
        None, description="W3C WebDriver remote end (Selenium Grid, or chromedriver --port); replaces the local Chromium.")
    recycle_after_pages: int = Field(50, ge=1, description="A session is replaced after this many pages (memory, leaks).")
    start_timeout: PositiveDuration = Field(30.0, description="How long starting a browser session may take.")
    window_size: str = Field("1280,1024", pattern=r"^\d{3,5},\d{3,5}$", description="Viewport as width,height.")
    arguments: list[str] = Field(default_factory=list, description="Extra Chromium flags, e.g. --host-resolver-rules=...")
    accept_insecure_certs: bool = Field(
        False, description="Accept invalid TLS certificates. Only for test estates; the TLS check judges certificates.")
    hosts: dict[str, str] = Field(default_factory=dict, description=(
        "Host names mapped to addresses (name: address), as /etc/hosts would, for test and acceptance systems on "
        "internal names: Chromium (--host-resolver-rules) and the HTTP-side probes (availability, security) alike."))
    ca_files: list[Path] = Field(default_factory=list, description=(
        "PEM files of CAs to trust besides the system's (a Land's own PKI), relative to settings.yaml: each "
        "session's Chromium trusts them through an NSS database of its own (needs certutil, Debian libnss3-tools), "
        "and the HTTP-side probes through a bundle of the system CAs plus these. Checking stays on."))
    @field_validator("hosts")
    @classmethod
    def _addresses(cls, hosts: dict[str, str]) -> dict[str, str]:
        for name, address in hosts.items():
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ValueError(f"{name}: {address!r} ist keine IP-Adresse (z. B. 10.1.2.3 oder ::1)") from exc
            if not re.fullmatch(r"[A-Za-z0-9*.-]+", name):
                raise ValueError(f"{name!r} ist kein Hostname")
        return {name.lower(): address for name, address in hosts.items()}

    memory_limit: ByteSize = Field(
        1024**3, ge=256 * 1024**2,
        description="Memory (proportional set size) one local browser session may use, chromedriver and every "
                    "Chromium process together (e.g. 1GiB); a page past it is killed (memory_limit) so that one "
                    "hostile page never takes the monitor with it. Size the unit's limit as pools.browser x (this + "
                    "0.375 GiB) + 0.75 GiB (docs/operations.md).")
    js_heap_mb: int = Field(512, ge=64, description="V8 heap limit of a page in MiB (--max-old-space-size): a script "
                            "that allocates past it crashes its own tab, not the session.")
    sandbox: Literal["auto", "on", "off"] = Field(
        "auto", description="Chromium's sandbox: auto = on wherever it can be (not root, user namespaces allowed), "
                            "else off with a warning and egov_browser_sandboxed 0; on = refuse to start without it "
                            "(with remote_url: the Grid node must sandbox); off = never (not recommended). A remote "
                            "end cannot be probed: auto starts it without the sandbox, as before.")

    def binary(self, full: bool) -> Path | None:
        """The Chromium a local session runs: `chromium` for a `full` one (recording, page experience),
        else the headless shell when it is installed."""
        shell = self.headless_shell
        if not full and shell is not None and executable(shell):
            return shell
        return self.chromium

    def sandboxed(self) -> tuple[bool | None, str]:
        """(whether local Chromium runs sandboxed, German reason); None for a remote end (its own business)."""
        if self.remote_url is not None:
            return None, "entfernter Browser (Selenium Grid): die Sandbox ist Sache des Grid-Knotens"
        if self.sandbox == "off":
            return False, "sandbox: off in settings.yaml"
        possible, why = sandbox_possible()
        return possible, why


@functools.cache
def sandbox_possible() -> tuple[bool, str]:
    """Whether Chromium's sandbox can work for this process, and why not (German).

    Chromium's Linux sandbox needs an unprivileged user (it refuses to sandbox as root) and a
    user namespace it may create: the kernel's settings, AppArmor and a container's seccomp
    profile all decide that, so a forked child tries it (`unshare(CLONE_NEWUSER)`)."""
    if os.geteuid() == 0:
        return False, "der Prozess läuft als root; Chromium sandboxt nur unprivilegiert"
    if not hasattr(os, "unshare"):
        return False, "diese Python-Version kann User-Namespaces nicht prüfen"
    pid = os.fork()
    if pid == 0:  # the child only tries, and leaves at once
        try:
            os.unshare(os.CLONE_NEWUSER)
            os._exit(0)
        except OSError:
            os._exit(1)
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return False, ("keine User-Namespaces für diesen Prozess (Kernel-Einstellung, AppArmor oder das "
                       "seccomp-Profil des Containers verbieten sie)")
    return True, "unprivilegiert, User-Namespaces erlaubt"
