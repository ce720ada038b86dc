# The README's two commands: `make demo` (a local multi-node cluster) and `make test` (every test).
SWIFT ?= swift

.PHONY: deps build test demo clean-lab

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

demo: build
	.build/debug/sfha-lab demo

clean-lab:
	-.build/debug/sfha-lab down --all
