"""``python -m code_executor run FILE|-``: see code_executor.cli."""

import sys

from .cli import main

sys.exit(main())
