"""Run the fairjax command: ``python -m fairjax``."""

import sys

from fairjax.cli import main

sys.exit(main())
