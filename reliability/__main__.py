"""``python -m reliability``: see ``reliability.suite``."""
import sys

from reliability.suite import main

sys.exit(main())
