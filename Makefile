# `make demo` and `make test` set up everything on a fresh machine, then run.
PYTHON ?= python3
BIN := .venv/bin
STAMP := .venv/.installed

.PHONY: demo test test-slow setup bench bench-keras clean

$(STAMP): pyproject.toml constraints/cpu.txt scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/aegan train stacked_ae --out runs/demo
	$(BIN)/aegan reconstruct runs/demo --out runs/demo/reconstructions.png
	$(BIN)/aegan encode runs/demo --split valid --plot runs/demo/codings-valid-tsne.png
	@echo "demo: look at runs/demo/reconstructions.png and runs/demo/codings-valid-tsne.png"

# The default suite (a few minutes on 2 cores); test-slow runs the rest (real SIGKILLs, every
# example script, long real-data checks), and CI runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/stacked_ae_epoch.py

# aegan against the seed's Keras code and a tuned Keras loop (installs TensorFlow's CPU build).
bench-keras: $(STAMP)
	$(BIN)/pip install -e '.[keras-bench]' -c constraints/cpu.txt
	$(BIN)/python benchmarks/versus_keras.py

clean:
	rm -rf .venv runs .pytest_cache
