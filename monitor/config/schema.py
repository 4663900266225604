"""The catalog's JSON schema and config/REFERENCE.md, generated from the models and the
registered kinds' settings (`make schema`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from checks.browser import BrowserSettings
from checks.kind import Registry
from checks.locations import LocationSettings
from monitor.config.models import (
    KIND_NAME_MARK,
    CanarySettings,
    CatalogFile,
    MaintenanceWindow,
    PoolSettings,
    QueueSettings,
    Service,
    Settings,
    StoreSettings,
)


def _kind_names_in(node: Any, names: list[str]) -> None:
    """The registry's names as the enum of every field marked a kind name (models.KindName)."""
    if isinstance(node, dict):
        if node.pop(KIND_NAME_MARK, False):
            node["enum"] = names
        for value in node.values():
            _kind_names_in(value, names)
    elif isinstance(node, list):
        for value in node:
            _kind_names_in(value, names)


def json_schema(kinds: Registry[Any]) -> dict[str, Any]:
    """JSON schema of a catalog file, with every check kind's settings."""
    schema = CatalogFile.model_json_schema()
    _kind_names_in(schema, kinds.names())
    schema["$defs"] = schema.get("$defs", {})
    for kind in kinds:
        sub = kind.check.settings_model.model_json_schema()
        schema["$defs"].update(sub.pop("$defs", {}))
        schema["$defs"][f"{kind.name}_settings"] = sub
    schema["title"] = "egov-monitor catalog"
    return schema


def reference_markdown(kinds: Registry[Any]) -> str:
    """config/REFERENCE.md: every field of settings, catalog and check settings, from the models."""

    def table(title: str, model: type[BaseModel], intro: str = "") -> list[str]:
        lines = [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| Feld | Typ | Standard | Bedeutung |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            ann = getattr(info.annotation, "__name__", None) or str(info.annotation)
            # the same text on every Python: 3.13 names Path's module pathlib._local
            ann = ann.replace("typing.", "").replace("pathlib._local.", "pathlib.").replace("|", "\\|")
            if info.is_required():
                default = "**Pflicht**"
            elif info.default_factory is not None:
                default = f"`{info.default_factory()!r}`" if callable(info.default_factory) else ""  # type: ignore[call-arg]
            else:
                default = f"`{info.default!r}`"
            lines.append(f"| `{name}` | {ann} | {default} | {(info.description or '').replace('|', '/')} |")
        return lines + [""]

    out = ["# Konfigurationsreferenz", "",
           "Erzeugt aus den Modellen mit `egov-monitor reference` (nicht von Hand bearbeiten).",
           "Dauern: `30s`, `5m`, `1h30m`, `250ms` oder Sekunden als Zahl. JSON-Schema: `config/catalog.schema.json`.", ""]
    out += table("settings.yaml", Settings)
    out += table("settings.yaml: store", StoreSettings)
    out += table("settings.yaml: pools", PoolSettings)
    out += table("settings.yaml: canaries", CanarySettings)
    out += table("settings.yaml: browser", BrowserSettings)
    out += table("settings.yaml: locations[]", LocationSettings,
                 "Genau eines von `local: true`, `proxy:` oder `worker: true` (verteilter Betrieb, Worker mit `--location`).")
    out += table("settings.yaml: queue", QueueSettings, "Verteilter Betrieb: Scheduler und Worker über Redis.")
    out += table("Katalog: Datei", CatalogFile)
    out += table("Katalog: services[]", Service)
    out += table("Katalog: maintenance[]", MaintenanceWindow,
                 "Einmalig: `start` und `end`. Wiederkehrend: `every` (`day`/`week`), `days` (bei `week`), `at`, `duration`.")
    out += ["## Katalog: profiles", "",
            ("Ein Profil ist wie ein blackbox_exporter-Modul: `kind` (die Prüfart) und deren Einstellungen. "
            "Ein Dienst nennt es unter `checks.<kind>` als Namen (`availability: web-standard`) oder als "
            "`profile:` mit Abweichungen daneben. Vorrang: Standardwerte < Profil < Angaben am Dienst."), ""]
    for kind in kinds:
        out += table(f"Prüfart `{kind.name}`", kind.check.settings_model)
    return "\n".join(out)
