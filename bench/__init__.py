"""The benchmark of issue 6: a tool run by `make bench`, not a test (see bench/README.md)."""
