"""``python -m mbrnn.synthetic --out data/raw --scale demo --seed 0``."""

import sys

from .cli import main

sys.exit(main())
