"""``python -m bench.chaos``: the chaos run (see bench/chaos/run.py)."""

import sys

from .run import main

sys.exit(main())
