# Two commands for users: `make demo` and `make test`. Both set up virtual environments on first
# use (Python 3.11) from the pinned requirements/ files, and are fast the second time.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
VPY    := $(VENV)/bin/python
# Older Blender versions the extension supports, each tested in its own venv (bpy as a module).
COMPAT := 4.5 4.2

.PHONY: setup build test test-main test-compat demo lint bench clean

setup: $(VENV)/.installed

# $(1): venv folder, $(2): requirements file
define make_venv
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "Python 3.11 is required (the bpy wheels are built for CPython 3.11); $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.11" % v)'
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check -r $(2)
	@touch $(1)/.installed
endef

$(VENV)/.installed: requirements/main.txt
	$(call make_venv,$(VENV),requirements/main.txt)

.venv-bpy%/.installed: requirements/bpy-%.txt
	$(call make_venv,.venv-bpy$*,requirements/bpy-$*.txt)

build: setup
	$(VPY) build_addon.py

# The linter runs first: a lint error stops the run before any test.
test: lint test-main test-compat

test-main: lint build
	$(VPY) -m pytest

test-compat: $(foreach v,$(COMPAT),.venv-bpy$(v)/.installed)
	@for v in $(COMPAT); do \
		echo "== Blender $$v: extension tests (bpy $$v module)"; \
		.venv-bpy$$v/bin/python -m pytest -p no:cacheprovider tests/blender || exit 1; \
	done

demo: build
	$(VPY) tools/demo.py

lint: setup
	$(VPY) -m ruff check .

bench: build
	$(VPY) benchmarks/bench_runtime.py
	$(VPY) benchmarks/bench_features.py
	$(VPY) benchmarks/bench_blender.py
	$(VPY) benchmarks/bench_corpus.py

clean:
	rm -rf dist out
