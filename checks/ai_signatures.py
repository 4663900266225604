"""The shipped list of chatbot and AI-assistant widgets and AI APIs (`config/ai.yaml`), and how a
host or a page is matched against it. Neutral ground: the AI-Act kind finds widgets with it,
the DSGVO kind an AI API contacted before consent."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_AI_LIST = Path(__file__).resolve().parents[1] / "config" / "ai.yaml"


class Widget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str = Field(min_length=1, max_length=200)
    hosts: tuple[str, ...] = Field((), description="Script and API hosts of the widget (subdomains match).")
    selectors: tuple[str, ...] = Field((), description="CSS selectors of the widget in the page.")
    launcher: tuple[str, ...] = Field((), description="CSS selectors of what a visitor clicks to open it.")
    staffing: Literal["ai", "human", "either"] = Field(
        "ai", description="Who answers: ai (an assistant), human (a live chat with staff), either (the product offers "
                          "both; what the widget says decides, else the disclosure cannot be judged).")
    names: tuple[str, ...] = Field((), description="Legal entities and product names a privacy policy may name the "
                                                   "provider by (besides the vendor and its domains).")


class Api(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str = Field(min_length=1, max_length=200)
    hosts: tuple[str, ...] = Field(min_length=1)


class AiList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = ""
    widgets: tuple[Widget, ...] = ()
    apis: tuple[Api, ...] = ()

    def merged(self, other: AiList) -> AiList:
        """This list with `other`'s entries added (an entry of the same vendor is replaced)."""
        widgets = {w.vendor: w for w in self.widgets} | {w.vendor: w for w in other.widgets}
        apis = {a.vendor: a for a in self.apis} | {a.vendor: a for a in other.apis}
        return AiList(version=self.version, widgets=tuple(widgets.values()), apis=tuple(apis.values()))


class AiListError(ValueError):
    """A list file that cannot be read; the message names the file and the fix."""


def _matches(host: str, domain: str) -> bool:
    host, domain = host.lower().rstrip("."), domain.lower().lstrip("*.").rstrip(".")
    return host == domain or host.endswith("." + domain)


def widget_for(host: str, ai: AiList) -> Widget | None:
    return next((w for w in ai.widgets if any(_matches(host, d) for d in w.hosts)), None)


def api_for(host: str, ai: AiList) -> Api | None:
    return next((a for a in ai.apis if any(_matches(host, d) for d in a.hosts)), None)


@functools.cache
def _load(path: str, _mtime: float) -> AiList:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return AiList.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise AiListError(f"{path}: KI-Liste nicht lesbar: {exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AiListError(f"{path}: KI-Liste ungültig bei {where}: {first['msg']}") from None


def load_ai_list(path: Path) -> AiList:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise AiListError(f"{path}: KI-Liste nicht gefunden; Pfad in ai_files korrigieren (relativ zu config/)") from None
    return _load(str(path), mtime)


def shipped() -> AiList:
    return load_ai_list(DEFAULT_AI_LIST)
