"""``python -m oxy``: the same as the ``oxy`` console script."""
import sys

from oxy.cli.main import main

sys.exit(main())
