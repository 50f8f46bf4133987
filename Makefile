# Two commands for users: `make demo` and `make test`. Both set up .venv on first use (Python 3.11).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup build test demo lint clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "Python 3.11 is required (the bpy 5.0.1 wheels are built for CPython 3.11); $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.11" % v)'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

build: setup
	$(VPY) build_addon.py

test: build
	$(VPY) -m pytest

demo: build
	$(VPY) tools/demo.py

lint: setup
	$(VPY) -m ruff check .

clean:
	rm -rf dist out
