# The two commands of the README: `make demo` and `make test`. Each creates .venv and
# installs what it needs; `make test` also installs the Debian packages the tests run.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := prometheus prometheus-alertmanager tmux sqlite3 postgresql
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test install debian-packages bench clean

demo: $(STAMP)
	$(VENV)/bin/sreconsole --demo

test: $(STAMP) debian-packages
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP)

# Reinstall when the dependency list changes. python3-venv is the one Debian package a
# bare Python may lack to create the venv at all.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
		echo "installing python3-venv (needed to create $(VENV))"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: $(STAMP) debian-packages
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache
