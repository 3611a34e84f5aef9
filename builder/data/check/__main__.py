"""`python3 -m check ...` (the training entrypoint runs it so, with this package's parent on PYTHONPATH)."""

import sys

from .cli import main

sys.exit(main())
