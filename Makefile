# `make demo`: set everything up and run the whole pipeline on the embedded digits data.
# `make test`: set everything up and run the tests (display tests under Xvfb).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
APT_PACKAGES := xvfb xauth xdotool libgl1-mesa-dri libjack-jackd2-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
                libegl1 libglu1-mesa slurmctld slurmd slurm-client munge chromium postgresql
PYTEST_ARGS ?=

# jsPsych and its plugins (pinned in package.json / package-lock.json), copied into the package so that
# the online experiment (python -m experiment.web) never fetches anything from a CDN.
VENDOR := experiment/web/static/vendor
JSPSYCH_PLUGINS := browser-check canvas-keyboard-response fullscreen html-button-response html-keyboard-response \
                   image-button-response preload virtual-chinrest

.PHONY: setup system-deps web-bundle demo test mutation clean-demo help

help:
	@echo "make demo   - set up and run the demo pipeline (runs/, stimulus_sets/, lab_data/, reports/)"
	@echo "make test   - set up and run the test suite"
	@echo "make mutation - mutation testing of the core modules (mutmut; slow, not part of make test)"

setup: system-deps $(VENV)/.installed web-bundle

web-bundle: $(VENDOR)/.bundled

$(VENDOR)/.bundled: package.json package-lock.json
	npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp node_modules/jspsych/dist/index.browser.min.js $(VENDOR)/jspsych.min.js
	cp node_modules/jspsych/css/jspsych.css $(VENDOR)/jspsych.css
	for p in $(JSPSYCH_PLUGINS); do cp node_modules/@jspsych/plugin-$$p/dist/index.browser.min.js $(VENDOR)/plugin-$$p.min.js; done
	touch $@

# System packages: installed through apt when running as root, otherwise the apt line is printed.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
		echo "missing system packages; please run:"; echo "  sudo apt-get install -y$$missing"; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[experiment,zoo,web,test]'
	touch $@

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/test.sh $(PYTEST_ARGS)

# Mutation testing of the core modules, each in its own copy (.mutation/, git-ignored) against its own
# tests (scripts/mutation.py --list); prints the score per module. Triaged survivors: docs/mutation.md.
# One module: make mutation MODULES=analysis/stats.py
mutation: setup
	$(BIN)/pip install -q 'mutmut==3.8.1'
	nice -n 10 $(BIN)/python scripts/mutation.py $(MODULES)

clean-demo:
	rm -rf runs/demo stimulus_sets/demo-2afc stimulus_sets/demo-questionnaire lab_data/demo lab_private/demo reports/demo reports/reference reference_data
