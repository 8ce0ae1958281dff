"""`python -m bench [options]`: see bench/cli.py.

One bench run at a time on this machine: two runs side by side would share the bench database
and its Redis prefixes, and each would measure the other's load.
"""

import fcntl
import sys

from bench.cli import main

LOCK_PATH = "/tmp/examtimer-bench.lock"

with open(LOCK_PATH, "w") as lock:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another bench run holds {LOCK_PATH}; waiting for it to finish", file=sys.stderr, flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    raise SystemExit(main())
