"""What a local browser session takes from the host it runs on: the trust store (a private CA
for Chromium's NSS database, one CA bundle for the HTTP-side probes) and the memory its
process tree uses. Used by checks/browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class TrustError(Exception):
    """A CA file could not be given to a session's browser (certutil missing or refusing it)."""


def ca_bundle(ca_files: list[Path] | tuple[Path, ...]) -> str | None:
    """One PEM file with the system's CAs and `ca_files`, for the HTTP-side probes (libcurl and
    Python take one bundle); written once per content into the temporary directory."""
    if not ca_files:
        return None
    import hashlib
    import ssl

    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    parts = [Path(system).read_bytes() if os.path.isfile(system) else b""]
    parts += [Path(p).read_bytes() for p in ca_files]
    blob = b"\n".join(parts)
    path = Path(tempfile.gettempdir()) / f"egov-monitor-ca-{hashlib.sha256(blob).hexdigest()[:16]}.pem"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    return str(path)


def trust_in_nssdb(directory: str, ca_files: list[Path]) -> None:
    """An NSS database at `directory` that trusts the CAs of `ca_files` for servers (certutil)."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise TrustError("browser.ca_files braucht certutil (Debian-Paket libnss3-tools); "
                                 "scripts/setup.sh installiert es")
    os.makedirs(directory, exist_ok=True)
    db = f"sql:{directory}"
    steps = [[certutil, "-N", "-d", db, "--empty-password"]]
    steps += [[certutil, "-A", "-d", db, "-n", f"egov-ca-{i}", "-t", "C,,", "-i", str(path)]
              for i, path in enumerate(ca_files)]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise TrustError(f"CA-Datei nicht in die Browser-Sitzung übernommen ({cmd[-1]}): "
                                     f"{(done.stderr or done.stdout).strip()[:200]}")


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _group(pgid: int) -> list[str]:
    """The pids of the processes in process group `pgid`."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            if int(stat[stat.rindex(b")") + 2:].split()[2]) == pgid:  # state, ppid, pgrp
                pids.append(name)
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _pss(pids: list[str]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def tree_rss(pgid: int) -> int:
    """Memory (bytes) of every process in the process group `pgid`: the sum of their proportional
    set sizes (Linux /proc/PID/smaps_rollup), so pages the Chromium processes share count once,
    as the kernel's memory accounting of a cgroup counts them (a sum of RSS counts them per process,
    about twice a plain session's real use)."""
    return _pss(_group(pgid))


def _resident(pids: list[str]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


class MemoryGauge:
    """Whether a process group's memory (`tree_rss`: proportional set sizes) passes `limit`,
    asked ten times a second by the browser pool's watcher, cheaply. smaps_rollup walks each
    process's page tables: about 20 ms of CPU for one Chromium session, which the watcher paid
    on every look (a fifth of a core per busy session). The resident sets (/proc/PID/statm,
    constant time) bound it instead: a process's proportional set never exceeds its resident
    set, and grows by no more than it does but for pages others stop sharing. So the
    proportional sets are read again only when the last reading plus the resident sets'
    growth since could pass the limit, and at least once a `refresh` (seconds) while the
    resident sets are above it (for that sharing)."""

    def __init__(self, pgid: int, limit: int, refresh: float = 1.0) -> None:
        self.pgid, self.limit, self.refresh = pgid, limit, refresh
        self._pss = self._resident = 0
        self._read_at = float("-inf")

    def over(self) -> int | None:
        """The group's proportional sets (bytes) when they pass the limit, else None."""
        pids = _group(self.pgid)
        resident = _resident(pids)
        if resident <= self.limit:  # the proportional sets cannot be above it
            return None
        now = time.monotonic()
        if self._pss + (resident - self._resident) <= self.limit and now - self._read_at < self.refresh:
            return None
        self._pss, self._resident, self._read_at = _pss(pids), resident, now
        return self._pss if self._pss > self.limit else None
