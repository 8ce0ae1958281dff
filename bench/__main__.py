"""`python -m bench [options]`: see bench/cli.py."""

from bench.cli import main

raise SystemExit(main())
