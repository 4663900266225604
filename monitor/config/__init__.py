"""Settings and service catalog: the models (`models`), their loading and validation
against the process's kinds (`load`), the problems an operator is shown (`issues`), what is
checked in the environment (`environment`) and the generated schema and reference (`schema`).
"""

from __future__ import annotations

from monitor.config.load import load_config
from monitor.config.models import (
    CanarySettings,
    CatalogFile,
    Config,
    Duration,
    MaintenanceWindow,
    Profile,
    QueueSettings,
    ResolvedService,
    Service,
    Settings,
    StoreSettings,
)
from monitor.config_issues import ConfigError, ConfigIssue, german

__all__ = [
    "CanarySettings",
    "CatalogFile",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Duration",
    "MaintenanceWindow",
    "Profile",
    "QueueSettings",
    "ResolvedService",
    "Service",
    "Settings",
    "StoreSettings",
    "german",
    "load_config",
]
