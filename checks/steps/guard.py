"""The journey's safety net: a DevTools connection of its own to the journey's tab that
fails every request matching a blocked pattern before it leaves the browser.

WebDriver offers no DevTools events, and `Network.setBlockedURLs` stops only what the
renderer loads, not a navigation (a form submission). So the guard attaches to the tab
itself (Chromium's debugger address for a local browser, Selenium Grid's `se:cdp` for a
remote one), intercepts matching requests at the request stage (`Fetch.enable`) and
answers each with `Fetch.failRequest(BlockedByClient)`: the browser shows an error page,
the server never hears of it, and the attempt is recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import urllib.request
from typing import Any

import websocket

from checks import browser as browser_pool

MAX_ATTEMPTS = 200  # recorded blocked requests per journey (more are counted)


class GuardUnavailable(Exception):
    """The remote end offers no DevTools connection: nothing could be blocked."""


class RequestGuard:
    def __init__(self, session: browser_pool.BrowserSession, timeout: float = 10.0) -> None:
        caps = session.driver.capabilities
        address = (caps.get("goog:chromeOptions") or {}).get("debuggerAddress")
        try:
            if address:
                with urllib.request.urlopen(f"http://{address}/json/version", timeout=timeout) as answer:
                    url = json.load(answer)["webSocketDebuggerUrl"]
            elif caps.get("se:cdp"):
                url = str(caps["se:cdp"])
            else:
                raise GuardUnavailable("der Browser bietet keine DevTools-Verbindung (debuggerAddress, se:cdp)")
            self._ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        except (OSError, ValueError, KeyError, websocket.WebSocketException) as exc:
            raise GuardUnavailable(f"DevTools-Verbindung nicht möglich: {exc}") from exc
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._answers: dict[int, dict[str, Any]] = {}
        self._answered = threading.Condition(self._lock)
        self.attempts: list[dict[str, str]] = []
        self.dropped = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="journey-guard", daemon=True)
        self._reader.start()
        try:
            attached = self.call("Target.attachToTarget", targetId=session.driver.current_window_handle, flatten=True,
                                 session=False)
            self._session = str(attached["sessionId"])
        except (KeyError, GuardUnavailable) as exc:
            self.close()
            raise GuardUnavailable(f"DevTools-Verbindung zum Tab nicht möglich: {exc}") from exc

    def _send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            self._ws.send(json.dumps(message))

    def call(self, method: str, *, session: bool = True, **params: Any) -> dict[str, Any]:
        """One DevTools command on the tab; its result."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        try:
            self._send(message)
        except (OSError, websocket.WebSocketException) as exc:
            raise GuardUnavailable(f"DevTools-Verbindung verloren: {exc}") from exc
        with self._answered:
            if not self._answered.wait_for(lambda: ident in self._answers or self._closed, self.timeout):
                raise GuardUnavailable(f"{method}: keine Antwort innerhalb von {self.timeout:g}s")
            answer = self._answers.pop(ident, None)
        if answer is None:
            raise GuardUnavailable("DevTools-Verbindung geschlossen")
        if "error" in answer:
            raise GuardUnavailable(f"{method}: {answer['error'].get('message', answer['error'])}")
        return dict(answer.get("result") or {})

    def block(self, patterns: list[str]) -> None:
        """From now on, fail every request whose URL matches one of `patterns` (* and ? as wildcards)."""
        if patterns:
            self.call("Fetch.enable", patterns=[{"urlPattern": p, "requestStage": "Request"} for p in patterns])
        else:
            self.call("Fetch.disable")

    def _read(self) -> None:
        while not self._closed:
            try:
                raw = self._ws.recv()
            except (OSError, websocket.WebSocketException):
                break
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if message.get("method") == "Fetch.requestPaused":
                params = message.get("params") or {}
                request = params.get("request") or {}
                with self._lock:
                    if len(self.attempts) < MAX_ATTEMPTS:
                        self.attempts.append({"url": str(request.get("url") or "")[:2048],
                                              "method": str(request.get("method") or ""),
                                              "type": str(params.get("resourceType") or "")})
                    else:
                        self.dropped += 1
                with contextlib.suppress(OSError, websocket.WebSocketException):
                    self._send({"id": next(self._ids), "method": "Fetch.failRequest", "sessionId": message.get("sessionId"),
                                "params": {"requestId": params.get("requestId"), "errorReason": "BlockedByClient"}})
            elif "id" in message:
                with self._answered:
                    self._answers[int(message["id"])] = message
                    self._answered.notify_all()
        with self._answered:
            self._closed = True
            self._answered.notify_all()

    def count(self) -> int:
        with self._lock:
            return len(self.attempts) + self.dropped

    def since(self, index: int) -> list[dict[str, str]]:
        with self._lock:
            return list(self.attempts[index:])

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._ws.close()
