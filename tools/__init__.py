"""Developer tools behind `make demo`, `make up` and `make test-ui` (not part of the provider)."""
