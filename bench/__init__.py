"""The benchmarks: a tool run by `make bench`, not a test (see bench/README.md)."""
