"""What a browser session takes from the host it runs on and what it puts into every page: the
trust store (a private CA for Chromium's NSS database, one CA bundle for the HTTP-side probes),
the memory its process tree uses, its temporary directory's limits, a Grid address's
credentials, and the dialog recorder. Used by checks/browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit


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


# A Unix socket's path holds at most 107 bytes; Chromium puts its profile's singleton socket at
# $TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket (45 bytes after $TMPDIR, some to spare).
SOCKET_PATH_MAX = 108
SINGLETON_PATH_EXTRA = 52


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """The address without `user:password@`, and the two (percent-decoded; None when absent)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    shown = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return shown, unquote(parts.username or ""), unquote(parts.password or "")


# alert/confirm/prompt are answered at once, as a person dismissing them would (alert: OK,
# confirm: Cancel, prompt: Cancel), in every document before its own scripts, and recorded: any
# number of them, in any order, never block the session ("unexpected alert open") and the
# evidence says what the page asked. `print()` is a no-op too. The record is capped at 50
# dialogs; `dropped` says how many more there were.
DIALOG_RECORDER = r"""
(() => {
  if (window.__egovDialogs) return;
  const log = []; log.dropped = 0;
  Object.defineProperty(window, '__egovDialogs', {value: log, enumerable: false});
  const answers = {alert: undefined, confirm: false, prompt: null, print: undefined};
  for (const name of Object.keys(answers)) {
    const answer = answers[name];
    const stub = function (message) {
      if (log.length < 50) log.push({type: name, message: String(message === undefined ? '' : message).slice(0, 300)});
      else log.dropped += 1;
      return answer;
    };
    try { Object.defineProperty(window, name, {value: stub, writable: true, configurable: true}); } catch (e) {}
  }
})();
"""

# What the dialogs of the current document and its same-origin frames were (see DIALOG_RECORDER):
# an expression for a page's own scripts (checks.page's PAGE_FACTS reads it with the page's facts,
# in the same round trip).
DIALOGS_OF = r"""((top) => {
  const out = []; let dropped = 0;
  const visit = (w, depth) => {
    try {
      const log = w.__egovDialogs;
      if (log) { out.push(...log); dropped += log.dropped || 0; }
      if (depth < 30) for (let i = 0; i < w.frames.length; i++) visit(w.frames[i], depth + 1);
    } catch (e) {}
  };
  visit(top, 0);
  return {dialogs: out.slice(0, 50), dropped: dropped + Math.max(0, out.length - 50)};
})(window)"""
