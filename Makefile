# farmtel: two commands do all set-up on a fresh Debian/Ubuntu machine.
#   make run   - venv, install, `farmtel up --simulate 300` (embedded broker + SQLite)
#   make test  - installs Mosquitto, InfluxDB, VictoriaMetrics, PostgreSQL and Chromium if missing,
#                then the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVER_PACKAGES := mosquitto influxdb victoria-metrics postgresql
APT_OPTS := -o DPkg::Lock::Timeout=600  # another process may hold the dpkg lock
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint servers bench clean

# A failed `python3 -m venv` (no python3-venv) must not leave a half-made .venv behind.
$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) && [ -x $(BIN)/pip ] || { rm -rf $(VENV); \
		echo "python3 -m venv failed: install python3-venv (Debian/Ubuntu) and run make again" >&2; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/farmtel up --simulate 300

# Debian's servers for the integration tests. Their services are not left running: the tests
# start their own instances on free loopback ports (PostgreSQL: `initdb` + `postgres` from
# /usr/lib/postgresql/<major>/bin into a temporary folder). Chromium (with a CJK font for legible
# screenshots) is the browser the web page tests drive through Playwright.
servers:
	@missing=""; \
	[ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	[ -x /usr/bin/influxd ] || missing="$$missing influxdb"; \
	[ -x /usr/bin/victoria-metrics ] || missing="$$missing victoria-metrics"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	/sbin/ldconfig -p | grep -q 'libatomic.so.1 ' || missing="$$missing libatomic1"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get $(APT_OPTS) update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get $(APT_OPTS) install -y -qq $$missing >/dev/null && \
		if [ -d /run/systemd/system ]; then \
			$(SUDO) systemctl disable --now mosquitto influxdb victoria-metrics postgresql >/dev/null 2>&1 || true; \
		fi; \
	fi

# ruff over the whole tree; mypy over every package, tests/ and bench/ (pyproject.toml).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.installed-dev servers
	$(BIN)/pytest

bench: $(VENV)/.installed-dev servers
	$(BIN)/python -m bench.ingest_throughput

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
