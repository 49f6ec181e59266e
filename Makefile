# Recondesk: the two front-door commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 fonts-dejavu-core libdbus-1-3 \
  xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 \
  libxcb-xkb1 libxkbcommon-x11-0 dbus gnome-keyring postgresql poppler-utils
PYTEST_ARGS ?=

.PHONY: help venv system-deps demo test lint typecheck imports pytest benchmarks clean screenshot package package-smoke

help:
	@echo "make demo   - install what is needed, start the sandboxes and open Recondesk on them"
	@echo "make test   - lint, type-check, layer contracts and the whole test suite"
	@echo "make package       - the Linux release: dist/recondesk_<version>_amd64.deb and a portable .tar.gz"
	@echo "make package-smoke - install the built .deb and check the installed app (packaging/README.md)"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

# System libraries for Qt, a virtual screen, the keyring daemon, PostgreSQL and poppler (the pack tests read PDFs with
# pdftotext) (Debian/Ubuntu; needs root or sudo).
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then echo "Please install: $$missing"; exit 1; fi; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "Installing system packages: $$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: system-deps $(STAMP)
	@if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "No display found: running the demo on a virtual screen (xvfb). Set DISPLAY to see the window."; \
	  xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/recondesk --demo $(DEMO_ARGS); \
	else \
	  $(BIN)/recondesk --demo $(DEMO_ARGS); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check app tests benchmarks scripts/*.py
	$(BIN)/ruff format --check app tests benchmarks scripts/*.py

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The whole suite (the storage tests on SQLite and PostgreSQL each), then the services suite again with its caches
# on PostgreSQL (team mode's target) instead of SQLite files.
pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen scripts/with-postgres scripts/with-keyring $(BIN)/pytest $(PYTEST_ARGS)
	RECONDESK_SERVICES_DB=postgres QT_QPA_PLATFORM=offscreen scripts/with-postgres scripts/with-keyring \
	  $(BIN)/pytest $(PYTEST_ARGS) tests/services

test: system-deps lint typecheck imports pytest

benchmarks: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

screenshot: $(STAMP)
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python scripts/screenshot.py docs/screenshot.png

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info

# The Linux release (packaging/README.md): a build environment of its own (build/pkg-venv, never .venv), the
# PyInstaller bundle, the .deb and the portable archive in dist/. `make test` does not need it.
package:
	packaging/build

# Installs the built .deb (as root; else unpacks it into a temporary prefix), checks the installed app end to end
# through a private Secret Service, then removes it. Prints the figures as JSON.
package-smoke:
	$(PYTHON) packaging/smoke.py
