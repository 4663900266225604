"""egov-monitor: the daemon (config, scheduler, store, metrics, report, CLI)."""

__version__ = "0.1.0"
