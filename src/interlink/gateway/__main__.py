"""``python -m interlink.gateway CONFIG --broker URL``."""

import sys

from interlink.gateway import main

sys.exit(main())
