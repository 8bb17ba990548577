# gridlink: `make run` starts everything locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python -c "from gridlink.embedded import ferretdb_binary; import shutil; shutil.which('mongod') or ferretdb_binary()"

run: install
	$(BIN)/gridlink demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy gridlink api cases grids media notify bot

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: install lint
	$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: install
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools var .pytest_cache
