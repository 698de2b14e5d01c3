# Every target bootstraps .venv from the pinned requirements by itself.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.stamp
JOBS    ?= 2

.PHONY: demo test bench eval clean venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sednode demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m host_tools.bench

eval: $(STAMP)
	$(VENV)/bin/sednode eval

clean:
	rm -rf $(VENV) bench/latest.json .pytest_cache
