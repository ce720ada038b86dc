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

# Man pages and shell completions, generated from the command definitions (committed under Docs/).
.PHONY: cli-docs
cli-docs: build
	mkdir -p Docs/man Docs/completions
	$(SWIFT) package --allow-writing-to-directory Docs/man generate-manual --output-directory Docs/man
	for shell in bash zsh fish; do .build/debug/sfha --generate-completion-script $$shell > Docs/completions/sfha.$$shell; done
