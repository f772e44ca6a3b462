"""``python -m albmtls``."""
from albmtls.app import main

main()
