# The README's commands. `make demo` and `make test` create the environment first when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# glibc's default malloc thresholds make torch page-fault on every large tensor on CPU (bench/speed.py sets the same):
export GLIBC_TUNABLES := glibc.malloc.mmap_threshold=17179869184:glibc.malloc.trim_threshold=17179869184
DEMO_INPUT := build/phantom
DEMO_OUT := demo-out

.PHONY: setup demo test test-fast fuzz bench train notebooks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[service,cluster,train,dev]"
	touch $(STAMP)

$(DEMO_INPUT)/.done: $(STAMP)
	$(BIN)/ctangel phantom --out $(DEMO_INPUT)
	touch $@

demo: $(STAMP) $(DEMO_INPUT)/.done
	$(BIN)/ctangel analyze $(DEMO_INPUT)/series --out $(DEMO_OUT) --masks --labels $(DEMO_INPUT)/truth/labels

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

# Both notebooks, top to bottom on a fresh kernel (`make test` runs them too, with the rest of the suite).
notebooks: $(STAMP)
	$(BIN)/ruff check notebooks
	$(BIN)/ruff format --check notebooks
	$(BIN)/pytest -q tests/notebooks
# The suite without the tests marked slow (a server killed with -9, the browser, the shipped models).
test-fast: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -m "not slow"

# The long fuzz run (>= 10,000 cases per reader; about 20 min on 2 cores); counts in bench/results/fuzz.md.
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz.py --examples 10000

bench: $(STAMP)
	$(BIN)/python bench/patient_rule.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/speed_levers.py
	$(BIN)/python bench/load_test.py

# Needs ../shared/data (or CTANGEL_SHARED_DATA); writes build/datasets and build/weights (never commit them).
build/datasets/.done: $(STAMP)
	$(BIN)/ctangel prepare --out build/datasets
	touch $@

train: $(STAMP) build/datasets/.done
	$(BIN)/ctangel train all --config configs/train.toml

clean:
	rm -rf $(VENV) build $(DEMO_OUT)
