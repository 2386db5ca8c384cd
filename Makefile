# jobreset-operator: every developer and CI task goes through this file.
# `make demo` and `make test` are the two set-up commands (see README).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: build test demo crds lint fmt bench chaos e2e provision clean-state

build:
	$(CARGO) build --workspace --all-targets

# Unit tests, simulator tests, test-bed self-tests, operator integration tests against the
# test bed, and the official Python client's conformance run against the simulator.
test:
	scripts/test.sh

# Brings the test bed up, runs the operator, applies deploy/examples with kubectl, shows
# the resets reaching Completed, tears everything down.
demo:
	scripts/demo.sh

# The CRD yaml is generated from the Rust types; a test fails when it drifts.
crds:
	$(CARGO) run -q -p jobreset-operator -- crd > crds/jobreset.yaml

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features jobreset-operator/crash-points -- -D warnings

fmt:
	$(CARGO) fmt --all

# Figures, not assertions: simulator throughput and operator end-to-end latency.
bench:
	scripts/bench.sh

# The fault campaign: seeded rounds of SIGKILLs, leader handovers, Elasticsearch and API-server
# faults; `make test` runs a one-minute one. CHAOS_ROUNDS, CHAOS_SECONDS, CHAOS_SEED.
chaos:
	scripts/chaos.sh

# The operator suite against a real cluster (kind + ECK) for those who have one: see README.
e2e:
	scripts/e2e.sh

provision:
	testbed/cluster/scripts/provision-apiserver.sh

clean-state:
	rm -rf .state
