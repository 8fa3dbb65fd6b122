# `make run` installs everything and starts the help desk; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# AS is also make's built-in name for the assembler: replace that default, keep `make run AS=…`.
AS := $(if $(filter default,$(origin AS)),alice@corp.example,$(AS))
CONFIG := $(if $(HELPDESK_CONFIG),$(HELPDESK_CONFIG),$(if $(wildcard helpdesk.toml),helpdesk.toml,helpdesk.example.toml))

.PHONY: run test install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install
	HELPDESK_CONFIG=$(CONFIG) $(BIN)/helpdesk run --as $(AS)

test: install
	scripts/ensure_slapd.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
