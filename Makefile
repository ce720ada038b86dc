# The README's two commands: `make demo` (a local multi-node cluster) and `make test` (every test).
SWIFT ?= swift

.PHONY: deps build test demo clean-lab release

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

demo: build
	.build/debug/sfha-lab demo

# The build to install and to benchmark: optimized, Swift runtime and Foundation linked statically (a process starts
# in ~4 ms instead of ~11, and its code pages are not shared-library pages). Products in .build-static/release/.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static

clean-lab:
	-.build/debug/sfha-lab down --all

# Man pages and shell completions, generated from the command definitions (committed under Docs/).
.PHONY: cli-docs
cli-docs: build
	mkdir -p Docs/man Docs/completions
	$(SWIFT) package --allow-writing-to-directory Docs/man generate-manual --output-directory Docs/man
	for shell in bash zsh fish; do .build/debug/sfha --generate-completion-script $$shell > Docs/completions/sfha.$$shell; done
