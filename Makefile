# kured-ts: every target installs what it needs (npm packages, the pinned Node 24, the testbed's
# Go-built control plane) so that `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export NODE_OPTIONS := --disable-warning=ExperimentalWarning

.PHONY: all deps lint typecheck layers unit build testbed e2e test demo bench chaos clean prometheus image image-tools realnode realnode-tools release release-tools chart-readme

all: test

# npm itself may run on the machine's Node 20; everything after it runs on the Node 24 it installs.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.package-lock.json
	@node -e 'if (+process.versions.node.split(".")[0] < 24) { console.error("kured-ts: Node 24 was not installed into node_modules/.bin; run npm ci"); process.exit(1) }'

lint: deps
	biome check .

typecheck: deps
	tsc --noEmit -p .

# The folders of src/ floor by floor and what each imports; fails on an import that runs up or
# sideways (test/unit/layers.test.ts checks the same in `make test`).
layers: deps
	node scripts/layers.ts

unit: deps prometheus
	node --test --test-reporter=spec 'test/unit/**/*.test.ts'

build: deps
	node scripts/bundle.ts

# Debian's prometheus + promtool (not started as a service): the Prometheus gate's e2e test and the rule checks.
prometheus:
	bash scripts/ensure-prometheus.sh

# Builds (first time only) and caches etcd, kube-apiserver, kube-controller-manager, kwok and helm.
testbed: deps
	node testbed/src/cli.ts build

# Debian's qemu, mmdebstrap, socat and e2fsprogs for the testbed's real node (a VM under TCG).
realnode-tools:
	bash scripts/ensure-realnode-tools.sh

# The real node's guest (Debian root fs, kernel) and kubelet: built once (~3 min, then ~1 min for kubelet on the control plane's warm Go cache), then cached.
realnode: deps testbed realnode-tools
	node testbed/src/realnode/build-cli.ts

# Debian's mmdebstrap, umoci and skopeo build the image; podman with runc runs it in the e2e tests.
image-tools:
	bash scripts/image/ensure-tools.sh

# The multi-arch image in dist/image (OCI layout, one docker-archive per architecture), built without
# Docker or a base image; skipped when its inputs (bundle, scripts/image, Node version, commit) are unchanged.
image: build image-tools
	node scripts/image/build.ts

# cosign and oras, built once from their pinned Go modules (scripts/release/tools/) into
# ~/.cache/kured-ts/release-tools/<key>: a cache of its own, apart from the testbed's.
release-tools: deps
	node scripts/release/tools.ts

# The image, its SBOM (attested and attached as a referrer), the signatures and the chart, pushed to
# an OCI registry: RELEASE_REGISTRY=ghcr.io/<owner> with COSIGN_KEY and COSIGN_PASSWORD for a real
# release (docs/release.md); without it, a dry run into a docker-registry on 127.0.0.1 with a key
# pair made for the run. Output in dist/release.
release: image release-tools
	node scripts/release/release.ts

# The chart's README, from values.yaml's comments (a unit test checks it is up to date).
chart-readme: deps
	node scripts/release/chart-readme.ts

e2e: build testbed prometheus image realnode release-tools
	node --test --test-concurrency=1 --test-reporter=spec 'test/e2e/**/*.test.ts'

test: lint typecheck build testbed prometheus image realnode release-tools
	node --test --test-concurrency=1 --test-reporter=spec 'test/unit/**/*.test.ts' 'test/e2e/**/*.test.ts'

demo: build testbed
	node scripts/demo.ts

bench: build testbed
	for b in bench/*.ts; do node "$$b" || exit 1; done

# Fault injection at fleet scale (docs/reliability.md): `make chaos DURATION=40m SEED=42` (SEED: random if unset).
DURATION ?= 40m
SEED ?=
chaos: build testbed
	DURATION=$(DURATION) SEED=$(SEED) node bench/chaos.ts

clean:
	rm -rf dist node_modules
