"""Loading settings and catalog: YAML read, validated against the process's kinds, each
check's settings resolved (kind defaults < profile < inline) and completed across kinds.

Every error names the file, the line, the service and the field, and says what would be
accepted, so an operator can fix a catalog without reading code. Loading never changes
anything: the caller decides whether to swap the new configuration in.
"""

from __future__ import annotations

import gc
import glob
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from checks.kind import Registry
from checks.locations import Location
from checks.proxy import Proxy
from checks.settings import CheckSettings, SettingsFileError
from monitor.config import webconfig
from monitor.config.environment import browser_issues, trusted_ca_files
from monitor.config.models import CatalogFile, Config, Profile, ResolvedService, Service, Settings
from monitor.config_issues import ConfigError, ConfigIssue, _issues_from, _read_yaml, german
from monitor.dependencies import find_cycle
from monitor.incidents import load_incident_files


def _resolve_check(kinds: Registry[Any], kind: str, raw: Any,
                   profiles: dict[str, Profile]) -> tuple[CheckSettings | None, list[tuple[tuple, str]]]:
    registered = kinds.get(kind)
    if registered is None:
        return None, [((), f"Prüfart {kind} ist nicht implementiert")]
    impl = registered.check
    merged: dict[str, Any] = {}
    if isinstance(raw, str):
        raw = {"profile": raw}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, [((), "erwartet einen Profilnamen oder eine Zuordnung von Einstellungen")]
    raw = dict(raw)
    profile_name = raw.pop("profile", None)
    if profile_name is not None:
        profile = profiles.get(str(profile_name))
        if profile is None:
            known = ", ".join(sorted(profiles)) or "(keine definiert)"
            return None, [(("profile",), f"unbekanntes Profil {profile_name!r}; bekannt: {known}")]
        if profile.kind != kind:
            return None, [(("profile",), f"Profil {profile_name!r} ist für {profile.kind}, nicht für {kind}")]
        merged.update(profile.model_extra or {})
    merged.update(raw)
    try:
        return impl.settings_model.model_validate(merged), []
    except ValidationError as exc:
        return None, [(tuple(e["loc"]), german(e)) for e in exc.errors(include_url=False)]


def _salvage(cdata: Any, context: dict[str, Any]) -> tuple[CatalogFile, list[tuple[int, Service]]]:
    """The parts of a catalog that validate alone: its profiles and services one by one."""
    data = cdata if isinstance(cdata, dict) else {}
    profiles = {}
    for name, raw in (data.get("profiles") or {}).items() if isinstance(data.get("profiles"), dict) else ():
        try:
            profiles[str(name)] = Profile.model_validate(raw, context=context)
        except ValidationError:
            pass
    valid: list[tuple[int, Service]] = []
    raw_services = data.get("services")
    for i, raw in enumerate(raw_services if isinstance(raw_services, list) else []):
        try:
            valid.append((i, Service.model_validate(raw, context=context)))
        except ValidationError:
            pass
    example = data.get("example") is True
    return CatalogFile(profiles=profiles, services=[s for _i, s in valid], example=example), valid


def _profile_errors(kinds: Registry[Any], profiles: dict[str, Profile]) -> dict[str, list[tuple[tuple, str]]]:
    """Each profile validated once on its own: its errors by profile name, located in the profile.

    A field a profile leaves out is no error here (a service may give it), nor is a rule across
    fields (timeout within interval): the service's own values may settle it."""
    out: dict[str, list[tuple[tuple, str]]] = {}
    for name, profile in profiles.items():
        registered = kinds.get(profile.kind)
        if registered is None:
            continue
        try:
            registered.check.settings_model.model_validate(profile.model_extra or {})
        except ValidationError as exc:
            errors = [(tuple(e["loc"]), german(e)) for e in exc.errors(include_url=False)
                      if e["type"] != "missing" and e["loc"]]
            if errors:
                out[name] = errors
    return out


def _not_in_profile(raw: Any, errors: list[tuple[tuple, str]],
                    profile_errors: dict[str, list[tuple[tuple, str]]]) -> list[tuple[tuple, str]]:
    """A check's errors without those its profile already reported (unless the service sets the field itself)."""
    name = _profile_name(raw)
    if name not in profile_errors:
        return errors
    inline = set(raw) if isinstance(raw, dict) else set()
    in_profile = {loc[:1] for loc, _msg in profile_errors[name]}
    return [(loc, msg) for loc, msg in errors if loc[:1] not in in_profile or loc[0] in inline]


def _profile_name(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and raw.get("profile") is not None:
        return str(raw["profile"])
    return None


def _location_issues(services: dict[str, ResolvedService], places: dict[str, tuple[int, Any]],
                     settings: Settings) -> list[ConfigIssue]:
    """Every location a check names is one of settings.yaml `locations:`."""
    issues: list[ConfigIssue] = []
    known = ", ".join(loc.name for loc in settings.locations) or "keine: settings.yaml hat kein `locations:`"
    for svc in services.values():
        at, cindex = places[svc.id]
        for kind, check in svc.checks.items():
            for loc, ref in check.location_refs():
                if ref not in {entry.name for entry in settings.locations}:
                    path = ("services", at, "checks", kind, *loc)
                    issues.append(ConfigIssue(svc.source, cindex.line(path), svc.id, ".".join(str(p) for p in path),
                                              f"unbekannter Standort {ref!r}: locations nennt Namen aus settings.yaml "
                                              f"`locations:` (bekannt: {known})"))
    return issues


def _dependency_issues(services: dict[str, ResolvedService], places: dict[str, tuple[int, Any]], settings: Settings,
                       settings_file: Path, index: Any) -> list[ConfigIssue]:
    """Every base service named (depends_on, a journey step's base_service, settings'
    base_services) is a service of the catalog, no service depends on itself, and the
    dependencies have no cycle."""
    issues: list[ConfigIssue] = []
    known = ", ".join(sorted(services)[:12]) + (" ..." if len(services) > 12 else "")
    for svc in services.values():
        at, cindex = places[svc.id]
        for j, base in enumerate(svc.service.depends_on):
            path = ("services", at, "depends_on", j)
            field = f"services.{at}.depends_on.{j}"
            if base == svc.id:
                issues.append(ConfigIssue(svc.source, cindex.line(path), svc.id, field,
                                          "ein Dienst kann nicht von sich selbst abhängen"))
            elif base not in services:
                issues.append(ConfigIssue(svc.source, cindex.line(path), svc.id, field,
                                          f"unbekannter Basisdienst {base!r}: depends_on nennt IDs von Diensten des "
                                          f"Katalogs (bekannt: {known})"))
        for kind, check in svc.checks.items():
            for loc, ref in check.service_refs():
                if ref not in services:
                    path = ("services", at, "checks", kind, *loc)
                    issues.append(ConfigIssue(svc.source, cindex.line(path), svc.id, ".".join(str(p) for p in path),
                                              f"unbekannter Basisdienst {ref!r}: base_service nennt die ID eines "
                                              f"Dienstes des Katalogs (bekannt: {known})"))
    for base in settings.base_services:
        if base not in services:
            issues.append(ConfigIssue(str(settings_file), index.line(("base_services", base)), None,
                                      f"base_services.{base}", f"unbekannter Basisdienst {base!r}: Schlüssel von "
                                      f"base_services sind IDs von Diensten des Katalogs (bekannt: {known})"))
    graph = {sid: [b for b in s.service.depends_on if b in services and b != sid] for sid, s in services.items()}
    cycle = find_cycle(graph)
    if cycle is not None:
        svc = services[cycle[0]]
        at, cindex = places[svc.id]
        j = svc.service.depends_on.index(cycle[1])
        issues.append(ConfigIssue(svc.source, cindex.line(("services", at, "depends_on", j)), svc.id,
                                  f"services.{at}.depends_on.{j}",
                                  "Abhängigkeiten im Kreis: " + " -> ".join(cycle) + "; ein Basisdienst kann nicht "
                                  "(über andere) von seinen eigenen abhängigen Diensten abhängen"))
    return issues


def load_config(settings_path: str | Path, kinds: Registry[Any]) -> Config:
    """Read and validate settings and catalog against the process's kinds. Raises ConfigError
    listing every problem."""
    # Without the cycle collector while the catalog is built: everything read stays alive, so
    # each full collection walked it all again (10,000 services: 2.3-2.9 s instead of 1.0 s,
    # and in a running daemon's reload each of those collections held up every check).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_config(Path(settings_path), kinds)
    finally:
        if enabled:
            gc.enable()


def _load_config(settings_file: Path, kinds: Registry[Any]) -> Config:
    context = {"kinds": kinds}
    data, index = _read_yaml(settings_file)
    config_dir = settings_file.resolve().parent  # files a check names are relative to it
    try:
        settings = Settings.model_validate(data or {}, context=context)
    except ValidationError as exc:
        raise ConfigError(_issues_from(exc, str(settings_file), index)) from None

    issues: list[ConfigIssue] = []
    files: list[Path] = []
    for pattern in settings.catalog:
        full = pattern if Path(pattern).is_absolute() else str(settings_file.parent / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            issues.append(ConfigIssue(str(settings_file), index.line(("catalog",)), None, "catalog",
                                      f"keine Katalogdatei gefunden für {pattern!r}"))
        files.extend(Path(m) for m in matches)

    services: dict[str, ResolvedService] = {}
    places: dict[str, tuple[int, Any]] = {}  # service id -> its index in its file, the file's line index
    claimed: dict[str, str] = {}  # ids of services that did not validate: still taken
    example = False
    for file in files:
        try:
            cdata, cindex = _read_yaml(file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        try:
            catalog = CatalogFile.model_validate(cdata or {}, context=context)
            valid = list(enumerate(catalog.services))
        except ValidationError as exc:
            # every error of the file in one run: what validates alone is still checked further
            # (its checks, duplicate ids); the rest was reported here
            issues.extend(_issues_from(exc, str(file), cindex, data=cdata))
            catalog, valid = _salvage(cdata, context)
        example = example or catalog.example
        # A profile's own errors are reported once, at the profile's line; services using it
        # do not repeat them (unless they set the field themselves).
        profile_errors = _profile_errors(kinds, catalog.profiles)
        for name, errors in profile_errors.items():
            for loc, msg in errors:
                path = ("profiles", name) + loc
                issues.append(ConfigIssue(str(file), cindex.line(path), None, ".".join(str(p) for p in path), msg))
        raw_list: list[Any] = (cdata["services"] if isinstance(cdata, dict) and isinstance(cdata.get("services"), list)
                               else [])
        valid_at = {i for i, _s in valid}
        for i, raw in enumerate(raw_list):
            if i in valid_at or not isinstance(raw, dict):
                continue
            sid = raw.get("id")
            if isinstance(sid, str) and (sid in services or sid in claimed):
                where = services[sid].source if sid in services else claimed[sid]
                issues.append(ConfigIssue(str(file), cindex.line(("services", i, "id")), sid, f"services.{i}.id",
                                          f"Dienst-ID bereits vergeben in {where}; IDs müssen eindeutig sein"))
            elif isinstance(sid, str):
                claimed[sid] = str(file)  # an invalid service still holds its id
            for kind, raw_check in (raw.get("checks") or {}).items() if isinstance(raw.get("checks"), dict) else ():
                registered = kinds.get(str(kind))
                if registered is None:
                    continue  # reported by the catalog's validation
                _settings, errors = _resolve_check(kinds, str(kind), raw_check, catalog.profiles)
                for loc, msg in _not_in_profile(raw_check, errors, profile_errors):
                    path = ("services", i, "checks", kind) + loc
                    where = registered.check.settings_model.where(raw_check, loc)
                    issues.append(ConfigIssue(str(file), cindex.line(path), str(sid or f"#{i + 1}"),
                                              ".".join(str(p) for p in path), where + msg))
        for i, service in valid:
            if service.id in services or service.id in claimed:
                where = services[service.id].source if service.id in services else claimed[service.id]
                issues.append(ConfigIssue(str(file), cindex.line(("services", i, "id")), service.id, f"services.{i}.id",
                                          f"Dienst-ID bereits vergeben in {where}; IDs müssen eindeutig sein"))
                continue
            resolved: dict[str, CheckSettings] = {}
            raw_checks = cdata["services"][i]["checks"]
            for kind, raw in service.checks.items():
                raw_key = next((k for k in raw_checks if str(k) == kind), kind)
                settings_obj, errors = _resolve_check(kinds, kind, raw, catalog.profiles)
                if settings_obj is not None:
                    try:  # files a check reads (tracker lists, test data): relative to config/, checked now
                        # absolute, wherever the process was started (`--config config/settings.yaml`)
                        settings_obj = settings_obj.bind_paths(config_dir)
                    except SettingsFileError as exc:
                        settings_obj, errors = None, [(exc.loc, str(exc))]
                errors = _not_in_profile(raw, errors, profile_errors)
                for loc, msg in errors:
                    msg = kinds[kind].check.settings_model.where(raw_checks.get(raw_key), loc) + msg
                    path = ("services", i, "checks", raw_key) + loc
                    line = cindex.line(path)
                    issues.append(ConfigIssue(str(file), line, service.id, ".".join(str(p) for p in path), msg))
                if settings_obj is not None:
                    resolved[kind] = settings_obj
            for kind, settings_obj in list(resolved.items()):  # settings that name another kind's (a login)
                others = [o for k, o in resolved.items() if k != kind]
                completed, problem = settings_obj.resolve_across(others, str(service.urls[0]))
                if problem is not None:
                    raw_key = next((k for k in raw_checks if str(k) == kind), kind)
                    path = ("services", i, "checks", raw_key, problem[0])
                    issues.append(ConfigIssue(str(file), cindex.line(path), service.id, ".".join(str(p) for p in path),
                                              problem[1]))
                    del resolved[kind]
                elif completed is not None:
                    resolved[kind] = completed
            services[service.id] = ResolvedService(service, resolved, f"{file}")
            places[service.id] = (i, cindex)
    if settings.browser.ca_files:  # relative to settings.yaml, each a readable PEM file of CA certificates
        trusted, ca_issues = trusted_ca_files(settings.browser.ca_files, settings_file, index.line)
        issues.extend(ca_issues)
        settings = settings.model_copy(update={"browser": settings.browser.model_copy(update={"ca_files": trusted})})
    browser_users = sorted(s.id for s in services.values() if any(kinds[k].check.pool == "browser" for k in s.checks))
    browser_data = data.get("browser") if isinstance(data, dict) else None
    configured = set(browser_data) if isinstance(browser_data, dict) else set()
    issues.extend(browser_issues(settings, settings_file,
                                 lambda field: index.line(("browser", field)) if browser_data is not None else None,
                                 browser_users, configured))
    proxy = Proxy.from_environment()
    if settings.proxy is not None:
        try:
            proxy = settings.proxy.resolve(settings_file.parent)
        except ValueError as exc:
            issues.append(ConfigIssue(str(settings_file), index.line(("proxy", "credentials_file")), None,
                                      "proxy.credentials_file", str(exc)))
    locations: dict[str, Location] = {}
    for i, entry in enumerate(settings.locations):
        try:
            locations[entry.name] = entry.resolve(settings_file.parent)
        except ValueError as exc:
            issues.append(ConfigIssue(str(settings_file), index.line(("locations", i, "proxy", "credentials_file")),
                                      None, f"locations.{i}.proxy.credentials_file", str(exc)))
    if settings.queue is not None:
        try:
            settings.queue.redis_options(settings_file.parent)
        except ValueError as exc:
            field = str(exc).split(":", 1)[0]
            issues.append(ConfigIssue(str(settings_file), index.line(("queue", field)), None, f"queue.{field}", str(exc)))
    web = None
    if settings.web_config is not None:
        web_path = settings.web_config if settings.web_config.is_absolute() else settings_file.parent / settings.web_config
        try:
            web = webconfig.load(web_path)
        except webconfig.WebConfigError as exc:
            issues.extend(ConfigIssue(str(web_path), line, None, field, message) for line, field, message in exc.problems)
    issues.extend(_location_issues(services, places, settings))
    issues.extend(_dependency_issues(services, places, settings, settings_file, index))
    records, record_issues = load_incident_files(settings.incidents, settings_file.parent, set(services) | set(claimed))
    issues.extend(record_issues)
    if issues:
        raise ConfigError(issues)
    return Config(settings=settings, settings_file=settings_file.resolve(), services=services, example=example,
                  proxy=proxy, locations=locations, incidents=tuple(records), kinds=kinds, web=web)


