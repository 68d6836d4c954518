"""`python -m picomic.cli`: the same as the `picomic` command."""

import sys

from picomic.cli import main

sys.exit(main())
