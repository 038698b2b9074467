# The two commands of the README: `make demo` and `make test`. Each creates .venv and
# installs what it needs; `make test` also installs the Debian packages the tests run.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# libopenblas0-pthread: the mlx[cpu] wheel bundles netlib's reference BLAS; the Gemma LoRA test
# and bench preload OpenBLAS into their worker (a prompt-sized matrix product 27x faster here: bench/mlx_blas.py).
DEBIAN_PACKAGES := prometheus prometheus-alertmanager tmux sqlite3 libopenblas0-pthread postgresql
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test install debian-packages bench clean

demo: $(STAMP)
	SRECONSOLE_REVIEW_APPLY_RISKS=low $(VENV)/bin/sreconsole --demo

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

# Every benchmark in one go; a dated section (machine, load, quiet or not) is appended to
# bench/README.md. The knowledge-base comparison needs the bench extra (ChromaDB).
bench: $(STAMP) debian-packages
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
