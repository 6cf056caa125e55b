# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lab ui example example-regression clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create/update .venv with the project and its dev tools

demo: install  ## train, replay production through the service, backfill the reports
	$(BIN)/driftlib demo --params params/demo.yaml

test: install  ## the test suite (the same command CI runs)
	$(BIN)/python -m pytest

lab: install  ## JupyterLab on 127.0.0.1 with the project's interpreter as the python3 kernel
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir driftlib/notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

ui: install  ## Evidently UI over the demo's workspace on 127.0.0.1
	$(BIN)/evidently ui --workspace outputs/evidently --host 127.0.0.1 --port 8001

example: install  ## the "your own CSV data" example end to end
	$(BIN)/driftlib models train --params params/example_csv.yaml
	$(BIN)/driftlib run --params params/example_csv.yaml --date 2024-03-01

example-regression: install  ## the regression example (bike rentals) end to end: a quiet June, then the July change
	$(BIN)/driftlib models train --params params/example_regression.yaml
	$(BIN)/driftlib run --params params/example_regression.yaml --date 2024-06-29
	$(BIN)/driftlib run --params params/example_regression.yaml --date 2024-07-29
