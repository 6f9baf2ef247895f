# make demo: run the pipeline on the embedded demo world (offline). make demo-stac: the same world
# published as a local STAC API + COG server and acquired from it. make test: the whole test suite;
# make test-fast: the unit tier (tests not marked slow), about a minute.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where ImageNet weights are looked for before any download (air-gapped machines).
# In this project's own checkout the shared folder beside it has MobileNet 0.25's weights.
POVERTY_PIPELINE_WEIGHTS_DIR ?= $(wildcard ../shared/data/weights)
export POVERTY_PIPELINE_WEIGHTS_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo demo-stac test test-fast install pgstac-deps docs bench bench-scale bench-ingest bench-acquire clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# PostgreSQL and PostGIS from the OS packages (Debian/Ubuntu; as root, else through sudo) for
# the tests against stac-fastapi-pgstac, a STAC API that filters cloud cover on the server
# (tests/tiles/test_stac_pgstac.py; without them those tests skip). `make install` brings the
# Python side (stac-fastapi-pgstac, pypgstac, uvicorn). PG_MAJOR: 15 on Debian 12, 16 on Ubuntu 24.04.
PG_MAJOR ?= 15
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
pgstac-deps:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		postgresql-$(PG_MAJOR) postgresql-$(PG_MAJOR)-postgis-3

demo: install
	$(BIN)/poverty-pipeline demo data/demo
	$(BIN)/poverty-pipeline run configs/demo.yaml

# The demo world through a catalog: publish data/demo as STAC items (rustac serve) and COGs (a
# range-request server) at the URLs configs/demo_stac.yaml names, run the whole pipeline from
# them (the servers stop however the run ends), then print the r² table and its change from
# `make demo`'s run (when runs/demo has one). docs/stac.md walks through it.
demo-stac: install
	$(BIN)/poverty-pipeline demo data/demo
	$(BIN)/python -m pipeline.demo.stac_demo data/demo data/demo_stac configs/demo_stac.yaml -- \
		$(BIN)/poverty-pipeline run configs/demo_stac.yaml
	$(BIN)/poverty-pipeline runs table runs/demo_stac --vs runs/demo

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

# docs/configuration.md from the config's field descriptions (a test fails when it is stale).
docs: install
	$(BIN)/poverty-pipeline config reference --out docs/configuration.md

# Extract and train throughput vs the pure model rate and fp32 matmul peak; extract memory 1x/4x.
bench: install
	$(BIN)/python benchmarks/extract.py

# Ingest of 5,000 generated tiles: tiles/s, ratio to a bare rasterio read, peak memory 1x vs 4x tiles.
bench-ingest: install
	$(BIN)/python benchmarks/ingest.py

# Acquisition from a local STAC API + COG server: tiles/s vs a bare rasterio windowed read,
# bytes fetched per tile vs the COG blocks its windows need, peak memory 1x vs 4x the area.
bench-acquire: install
	$(BIN)/python benchmarks/acquire.py

# Extraction on the local executor vs a 2-worker Dask LocalCluster; worker memory at 1x/4x tiles.
bench-scale: install
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf runs data/demo data/demo_stac
