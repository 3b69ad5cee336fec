# `make help` lists the targets. The two README commands are `make gameday` and `make test`.
.DEFAULT_GOAL := help
VENV := .venv/bin
PYTEST_ARGS ?=
GAMEDAY_ARGS ?=

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install everything (venv, dev tools, Redis, Java, DynamoDB Local, emulator)
	./scripts/bootstrap.sh

gameday: setup ## the main job: a SyncWell gameday (load ramp, provider outage, isolation); prints the report path
	$(VENV)/harness run scenarios/syncwell-gameday.yaml $(GAMEDAY_ARGS)

GATES := catalog syncwell synchub codexflow cloudsaas

gameday-all: setup ## every stack's CI gate (scenarios/<stack>-gate.yaml, < 3 min each); fails if one fails
	@failed=""; for stack in $(GATES); do \
	  $(VENV)/harness run scenarios/$$stack-gate.yaml --report-dir reports/$$stack-gate $(GAMEDAY_ARGS) || failed="$$failed $$stack"; \
	done; if [ -n "$$failed" ]; then echo "gates failed:$$failed"; exit 1; fi; echo "every gate passed"

smoke: setup ## bring the environment up, exercise every service once, take it down
	$(VENV)/harness smoke

test: setup ## the default test suite (unit, functional, integration, e2e; no benchmarks)
	$(VENV)/pytest -m "not slow and not bench" $(PYTEST_ARGS)

lint: setup ## ruff lint + format check, mypy strict on the package
	$(VENV)/ruff check harness tests benchmarks
	$(VENV)/ruff format --check harness tests benchmarks
	$(VENV)/mypy

bench: setup ## run every benchmark (long; results under benchmarks/results/)
	$(VENV)/harness bench all

up: setup ## start the environment in the background
	$(VENV)/harness up

down: ## stop the environment
	$(VENV)/harness down

clean: down ## remove run output and caches
	rm -rf .harness .pytest_cache .mypy_cache .ruff_cache

.PHONY: help setup gameday gameday-all smoke test lint bench up down clean
