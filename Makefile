# Convenience targets for machines that have make; ./dev works without it.
.PHONY: demo test build bench
demo: ; ./dev demo
test: ; ./dev test
build: ; ./dev build release
bench: ; ./dev bench
