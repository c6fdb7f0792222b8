# Two commands that work on a fresh machine with Python 3.11:
#   make run   - create .venv if needed, install the pinned runtime requirements, start the app
#   make test  - create .venv if needed, install the test requirements (+ Debian chromium and
#                postgresql), run every test
# Re-running is fast: installs happen only when a requirements file changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test lint bench screenshots
.DEFAULT_GOAL := run

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-local.txt requirements-nodeps.txt | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip uninstall -q -y pylibjpeg-libjpeg opencv-python 2>/dev/null || true
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(PY) app.py

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy medgemma_ui

test: $(VENV)/.installed-dev lint
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-postgresql.sh
	bash scripts/ensure-orthanc.sh
	$(PY) -m pytest

bench: $(VENV)/.installed-dev
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

screenshots: $(VENV)/.installed-dev
	bash scripts/ensure-chromium.sh
	$(PY) scripts/screenshots.py
