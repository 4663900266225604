"""What a browser session takes from the host it runs on and what it puts into every page: the
trust store (a private CA for Chromium's NSS database, one CA bundle for the HTTP-side probes),
the memory its process tree uses, its temporary directory's limits, a Grid address's
credentials, and the dialog recorder. Used by checks/browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
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


def _pgrp(name: str) -> int | None:
    """The process group of process `name` (a /proc entry), None when it is gone."""
    try:
        with open(f"/proc/{name}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[2])  # state, ppid, pgrp
    except (OSError, ValueError, IndexError):
        return None


class _Groups:
    """Which process group each process is in, for the memory watchers of every session.

    Reading /proc/PID/stat sums the CPU times of all the process's threads (Chromium's have
    dozens): about 0.1 ms of kernel time each, and a look at one session read them for every
    process on the host, ten times a second. A process's group is read once instead: it keeps
    the group it was forked into (chromedriver starts its own session, so nothing outside it can
    join the group later; chromedriver itself, the group's leader, counts by its pid). An entry lives while its pid is listed in /proc at every look; the
    whole table is read again when no look was made for `max_age` seconds, so a pid reused by
    the kernel in between (pid_max may be only 32768) never inherits the group of the process
    that had it before: between two looks that close together the kernel cannot go round all
    its pids."""

    def __init__(self, max_age: float = 0.25) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._of: dict[str, int] = {}
        self._listed = float("-inf")

    def members(self, pgid: int) -> list[str]:
        """The pids of the processes in process group `pgid`."""
        with self._lock:
            now = time.monotonic()
            known = self._of if now - self._listed <= self.max_age else {}
            of: dict[str, int] = {}
            for name in os.listdir("/proc"):
                group = known.get(name)
                if group is None and name.isdigit():
                    group = _pgrp(name)
                if group is not None:
                    of[name] = group
            self._of, self._listed = of, time.monotonic()
        leader = str(pgid)  # read before its setsid (a look during its start) it would be in its parent's group
        return [name for name, group in of.items() if group == pgid or name == leader]


_GROUPS = _Groups()


def _group(pgid: int) -> list[str]:
    """The pids of the processes in process group `pgid`."""
    return _GROUPS.members(pgid)


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


def _resident(pids: list[str]) -> dict[str, int]:
    """Each process's resident set (bytes), from /proc/PID/statm (constant time)."""
    sizes = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                sizes[pid] = int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return sizes


class MemoryGauge:
    """Whether a process group's memory (`tree_rss`: proportional set sizes) passes `limit`,
    asked ten times a second by the browser pool's watcher, cheaply. smaps_rollup walks each
    process's page tables: 20-35 ms of CPU for one Chromium session, which the watcher paid
    on every look (a fifth of a core per busy session). The resident sets (/proc/PID/statm,
    constant time) bound it instead: a process's proportional set never exceeds its resident
    set, and grows by no more than it does but for pages others stop sharing. So the
    proportional sets are read again only when the last reading plus each process's resident
    growth since (a new process's whole resident set; one that ended counts nothing, as the
    pages it shared within the group stay counted once) could pass the limit, and at least
    once a `refresh` (seconds) while the resident sets are above it.

    What raises proportional sets without raising a resident set is pages ceasing to be
    shared: copy-on-write breaks of the pages renderers share with their zygote (bounded by
    its memory, tens of MiB), and a process outside the group that shared pages ending (another
    session's Chromium: its share of the binary's pages). Neither grows with what a page
    does, so the refresh is seconds; what a page allocates shows in a resident set at once.
    A session keeps its gauge from page to page (the pool's watcher), so a page does not
    begin with a read."""

    def __init__(self, pgid: int, limit: int, refresh: float = 5.0) -> None:
        self.pgid, self.limit, self.refresh = pgid, limit, refresh
        self._pss = 0
        self._resident: dict[str, int] = {}  # each process's resident set at the last reading
        self._read_at = float("-inf")

    def over(self) -> int | None:
        """The group's proportional sets (bytes) when they pass the limit, else None."""
        pids = _group(self.pgid)
        resident = _resident(pids)
        if sum(resident.values()) <= self.limit:  # the proportional sets cannot be above it
            return None
        now = time.monotonic()
        grown = sum(max(0, size - self._resident.get(pid, 0)) for pid, size in resident.items())
        if self._pss + grown <= self.limit and now - self._read_at < self.refresh:
            return None
        self._pss, self._resident, self._read_at = _pss(pids), resident, now
        return self._pss if self._pss > self.limit else None


# A Unix socket's path holds at most 107 bytes; Chromium puts its profile's singleton socket at
# $TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket (45 bytes after $TMPDIR, some to spare).
SOCKET_PATH_MAX = 108
SINGLETON_PATH_EXTRA = 52


# Every local browser session whose chromedriver was started and not yet killed (added under
# the lock together with the start, removed when killed), for `kill_started`.
STARTED: set[Any] = set()
STARTED_LOCK = threading.Lock()


def kill_started() -> int:
    """Kill every local browser this process started and has not ended (their process groups,
    their profiles): the last step of a process that ends without waiting for its threads, where
    a session still starting on a pool thread was not yet in its pool when the pool was aborted.
    Returns how many."""
    with STARTED_LOCK:
        sessions = list(STARTED)
    for session in sessions:
        session.kill()
    return len(sessions)


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
