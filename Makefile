# Two commands a newcomer needs (see README.md):
#   make lab    lab hosts, a full deploy, a sample Ray job, the dashboard's address
#   make test   the whole suite: lint, unit tests, mutations, molecule on lab hosts
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
SIMULATED_NVML := .cache/simulated-nvml/libnvidia-ml.so.1

.PHONY: lab lab-down test lint unit mutate molecule dist host-deps venv clean

host-deps:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
	  && $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      podman runc debootstrap openssh-client python3-venv >/dev/null)

venv: $(BIN)/.installed $(BIN)/promtool

# promtool from Debian's prometheus package, for the unit tests of the alert rules
# (the package itself is for monitoring hosts, not this machine).
$(BIN)/promtool: $(BIN)/.installed
	rm -rf .cache/prometheus-deb && mkdir -p .cache/prometheus-deb
	cd .cache/prometheus-deb && apt-get download -qq prometheus
	dpkg-deb -x .cache/prometheus-deb/prometheus_*.deb .cache/prometheus-deb/root
	install -m 0755 .cache/prometheus-deb/root/usr/bin/promtool $@
	rm -rf .cache/prometheus-deb

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@# ansible.cfg's collections_path: this checkout is the rayfleet.cluster collection.
	mkdir -p .ansible/collections/ansible_collections/rayfleet
	ln -sfn ../../../.. .ansible/collections/ansible_collections/rayfleet/cluster
	touch $@

lab: host-deps venv
	$(BIN)/rayfleet lab up

lab-down: venv
	$(BIN)/rayfleet lab down

test: lint unit mutate molecule

lint: venv
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/ansible-lint --profile production

unit: venv $(SIMULATED_NVML)
	$(BIN)/pytest --numprocesses=auto tests/unit

# rayfleet's simulated NVML (no GPU behind it): the GPU tests load it as the driver's library.
$(SIMULATED_NVML): src/rayfleet/lab/data/simulated_nvml.c
	@command -v cc >/dev/null || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null)
	mkdir -p $(@D)
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -Wl,-soname,libnvidia-ml.so.1 -o $@ $<

# Named breakages of the provider, validation and alert rules that the unit tests must catch.
mutate: venv
	$(BIN)/python tests/mutate.py

# The rayfleet wheel (package and collection) and the rayfleet.cluster collection tarball:
# molecule's default scenario deploys from the first, autoscaler from the second.
dist: venv
	rm -rf .cache/dist
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir .cache/dist .
	$(BIN)/ansible-galaxy collection build --output-path .cache/dist .

# Every scenario, one after another; each one's log in .cache/molecule-logs/.
molecule: host-deps venv dist $(SIMULATED_NVML)
	$(BIN)/python tests/scenarios.py

clean:
	rm -rf $(VENV) .ansible .cache
