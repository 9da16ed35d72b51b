# Two commands for a fresh machine with Python 3.11+, pip and venv:  `make run`  and  `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= var
# make run NAME="Régie de quartier des Lilas" [NODE_ID=rq-lilas] [PORT=8081]: the first start's name and id, the port.
NAME ?=
NODE_ID ?=
PORT ?=

.PHONY: install run demo test lint schema clean mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/regies --data-dir $(DATA_DIR) init $(if $(NAME),--name "$(NAME)") $(if $(NODE_ID),--node-id "$(NODE_ID)")
	$(BIN)/regies --data-dir $(DATA_DIR) serve $(if $(PORT),--port "$(PORT)")

# A hub and three régies with sample data on 127.0.0.1 (under var/demo), until Ctrl-C.
demo: install
	$(BIN)/python -m devtools.demo

# Chromium and PostgreSQL first (installed with apt as root; a throwaway server when none answers), then pytest-xdist
# workers: one per core and one more, as about a quarter of the suite's time is tests waiting on the server
# processes they start (2 workers on 2 cores kept the cores 72 % busy). Work stealing: each worker starts on a
# contiguous share (module fixtures such as the fuzzer's servers set up once per worker), and an idle one takes half of
# the busiest one's rest, so a long test near the end does not leave the other workers waiting.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(len(getattr(os, 'sched_getaffinity', lambda _: range(os.cpu_count() or 1))(0)) + 1)")
test: install
	$(BIN)/python -m tests.prerequisites
	@# Bytecode written ahead: the suite starts ~280 Python processes (`regies` commands, servers, writers), and with PYTHONDONTWRITEBYTECODE set
	@# each one would compile the package again (~0.45 s of CPU of its ~1.3 s start).
	$(BIN)/python -m compileall -q federation plugins devtools tests
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: install
	$(BIN)/ruff check federation plugins devtools tests bench
	$(BIN)/ruff format --check federation plugins devtools tests bench
	$(BIN)/mypy federation plugins devtools
	$(BIN)/lint-imports

# Mutation testing of the trust modules (cosmic-ray, one mutant at a time; not part of `make test`).
# make mutation [MODULES="federation/terminal.py ..."] [MINUTES=30] [RESUME=1]: the mapping is [tool.regies-mutation] in pyproject.toml.
MODULES ?=
MINUTES ?=
RESUME ?=
mutation: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint,mutation]'
	$(BIN)/python -m tests.mutation $(MODULES) $(if $(MINUTES),--minutes $(MINUTES)) $(if $(RESUME),--resume)

schema: install
	$(BIN)/regies schema export

clean:
	rm -rf $(VENV) build *.egg-info
