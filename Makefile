# Quick start: `make run` (install, migrate, start web + worker + beat) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install services run migrate test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# Starts the local Postgres/Redis/RabbitMQ when they are installed but stopped.
services:
	bash scripts/services.sh

migrate: install
	$(PY) -m app migrate

run: install
	$(PY) -m app.preflight
	$(PY) -m app migrate
	$(VENV)/bin/honcho start -f Procfile

test: install services
	$(PY) -m pytest -q

bench: install services
	bash bench/run.sh

clean:
	rm -rf $(VENV) .pytest_cache
