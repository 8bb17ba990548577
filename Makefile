# gridlink: `make run` starts everything locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck bench clean browser prometheus

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
	$(BIN)/mypy gridlink api cases grids media notify bot sandbox open311 stats staff ops

# Headless Chromium for the browser tests: Debian's package (Playwright's own browser
# download is never used). Installs only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Prometheus and promtool for the operations tests (tests/ops): Debian's package, only when missing.
prometheus:
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus; }

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: install lint browser prometheus
	$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: install
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools var .pytest_cache
