"""`python -m driftlib.monitoring --params P --out monitoring`: regenerate the alert rules and dashboard."""
import sys

from driftlib.monitoring.generate import main

sys.exit(main())
