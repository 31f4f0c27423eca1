# make run   the whole server with demo data (embedded Redis, SQLite unless DATABASE_URL is set)
# make test  the test suite twice, side by side: on SQLite and on a throwaway PostgreSQL server
# Both create .venv and install requirements.txt first (again only when it changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test venv chromium

run: $(STAMP)
	exec $(PY) -m chatdesk.run

# The Python packages and the browser install side by side: on a fresh machine each takes a minute.
test:
	$(MAKE) --no-print-directory -j2 $(STAMP) chromium
	exec $(PY) -m tests.run $(ARGS)

venv: $(STAMP)

# Debian's own python3 needs python3-venv for this; install it where we may (root).
$(PY):
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && [ "$$(id -u)" = 0 ] && apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

# The browser tests drive Debian's chromium; install it where we may (root, e.g. CI).
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y chromium fonts-noto-cjk; \
	fi
