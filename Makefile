# egov-monitor: the two set-up commands are `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
VENV313 ?= .venv-3.13
# Four workers on two cores: most tests wait for servers, browsers, timers and scenarios (an
# alert's `for`, a two-minute store outage). With two workers the cores were idle half the time
# (/proc/stat: 758 CPU-s in a 760 s run); with four the main run took 478 s, 85 % busy
# (docs/benchmarks.md, ninth session). Bounds that load would break are marked `alone`.
# Each file stays on one worker (its servers and browser pool start once); the longest files
# start first (tests/conftest.py). Tests marked `alone` (a bound in seconds or bytes that the others'
# load would break) run afterwards, one at a time.
PARALLEL ?= -n 5 --dist loadfile --no-loadscope-reorder
CONFIG ?= config/settings.yaml

.PHONY: run test test-py313 lint test-fast bench validate schema dashboards clean

run:  ## install what is needed, then run the daemon on the embedded default
	scripts/setup.sh run
	SE_OFFLINE=true SE_AVOID_STATS=true $(VENV)/bin/egov-monitor run --config $(CONFIG)

test:  ## install what is needed, then lint, type-check and run every test (browser, TLS, end-to-end included)
	scripts/setup.sh test
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest $(PARALLEL) -m "not alone"
	$(PY) -m pytest -m alone
	$(MAKE) --no-print-directory test-py313

test-py313:  ## the fast non-browser tests again on Python 3.13 (scripts/setup.sh test made .venv-3.13; nothing to do when .venv is 3.13)
	@if $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		echo "Python 3.13: der Hauptlauf lief bereits auf Python 3.13"; \
	else \
		$(VENV313)/bin/python -m pytest $(PARALLEL) -m "not slow and not e2e and not browser" -p no:cacheprovider; \
	fi

lint:  ## ruff and mypy over checks/ and monitor/ (settings in pyproject.toml); fails on any finding
	$(VENV)/bin/ruff check checks monitor
	$(VENV)/bin/mypy

test-fast:
	$(PY) -m pytest $(PARALLEL) -m "not slow and not e2e"

bench:  ## benchmarks side by side with the peers; prints ratios
	scripts/setup.sh test
	$(PY) -m bench.availability
	$(PY) -m bench.daemon_e2e
	$(PY) -m bench.daemon_e2e --locations 2
	$(PY) -m bench.security
	$(PY) -m bench.domain
	$(PY) -m bench.accessibility
	$(PY) -m bench.a11y_compare
	$(PY) -m bench.ai_compare
	$(PY) -m bench.gdpr
	$(PY) -m bench.gdpr_compare
	$(PY) -m bench.journey
	$(PY) -m bench.experience  # about 25 minutes: Lighthouse takes ~20 s a load
	$(PY) -m bench.kinds_compare
	$(PY) -m bench.report
	$(PY) -m bench.statuspage
	$(PY) -m bench.scaleout
	$(PY) -m bench.soak  # about 35 minutes: a simulated day of 300 targets

validate:
	$(VENV)/bin/egov-monitor validate --config $(CONFIG)

schema:  ## regenerate config/catalog.schema.json after changing a settings model
	$(VENV)/bin/egov-monitor schema > config/catalog.schema.json
	$(VENV)/bin/egov-monitor reference > config/REFERENCE.md

dashboards:  ## regenerate deploy/grafana/dashboards/*.json after changing scripts/grafana_dashboards.py
	$(PY) scripts/grafana_dashboards.py

clean:
	rm -rf $(VENV) var .pytest_cache
