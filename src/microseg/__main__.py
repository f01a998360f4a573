"""``python -m microseg`` runs the command line."""
import sys

from microseg.cli import main

sys.exit(main())
