# fastpath developer entry points.  `make demo` runs the main job, `make test` all tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint unit demo images clean

setup:
	./scripts/setup-host.sh

lint: setup
	$(VENV)/bin/ruff check fastpath tests bench
	@if [ -d roles ] && ls roles/*/tasks >/dev/null 2>&1; then \
	  $(VENV)/bin/ansible-lint -q playbooks roles; fi

unit: setup
	$(VENV)/bin/pytest -q tests/unit

test: lint
	$(VENV)/bin/pytest -q -ra tests

images: setup
	./scripts/build-images.sh

demo: setup
	./scripts/build-images.sh sysbench
	$(VENV)/bin/python -m fastpath.testsut.demo --workdir var/demo

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
