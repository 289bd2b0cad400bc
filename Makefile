# make run  : install into .venv, migrate, print a first API key on first run, start web + workers.
# make test : the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test install install-dev demo bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# openai 2.x beside the venv's 3.x, for the end-to-end SDK checks (tests/e2e/test_jimeng_videos.py).
SDK2 := var/sdk-openai2
$(SDK2)/.installed: $(VENV)/.installed requirements-sdk2.txt
	rm -rf $(SDK2)
	$(PIP) install --quiet --disable-pip-version-check --target $(SDK2) -r requirements-sdk2.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev $(SDK2)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	exec $(PY) manage.py serve

# The demo keeps to its own data: a .env made for the real installation is not read.
demo: install
	GATEWAY_ENV_FILE=off GATEWAY_VAR_DIR=var/demo $(PY) manage.py migrate --noinput
	exec env GATEWAY_ENV_FILE=off GATEWAY_VAR_DIR=var/demo $(PY) manage.py demo

test: install-dev
	$(VENV)/bin/pytest

bench: install-dev
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) var
