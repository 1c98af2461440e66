# bibkiosk — two commands for a fresh Debian 12 machine:
#   make demo   install what is missing, then run the demo
#   make test   install what is missing, then run the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: Python build bits, the PC/SC stack with a virtual reader
# (tests only: vpcd listens on TCP, never install it on a production kiosk),
# pty pairs, Mesa for Kivy's offscreen rendering, Mosquitto (the fleet link's
# broker in the tests and the demo), Chromium + chromedriver (console browser tests)
# PostgreSQL (the console store's second backend, a throwaway cluster per test run)
# and espeak-ng (the tts+espeak:// speech driver).
APT_PACKAGES := python3-venv python3-dev gcc make git \
	pcscd libpcsclite-dev swig vsmartcard-vpcd socat \
	libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri libmtdev1 \
	sqlite3 systemd \
	mosquitto chromium chromium-driver postgresql espeak-ng

.PHONY: help deps apt venv catalogs test demo bench screenshots clean

help:
	@echo "make demo   - install what is missing, then run the bibkiosk demo"
	@echo "make test   - install what is missing, then run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ (figures go in bench/RESULTS.md)"
	@echo "make screenshots - render every kiosk screen in nl, fr, en into docs/screenshots/"

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml | apt
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

catalogs: venv
	@$(PY) -m kiosk.i18n compile

deps: apt venv catalogs

test: deps
	$(PY) -m pytest

demo: deps
	$(VENV)/bin/bibkiosk demo

bench: deps
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

screenshots: deps
	SDL_VIDEODRIVER=offscreen SDL_AUDIODRIVER=dummy $(PY) -m kiosk.ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
