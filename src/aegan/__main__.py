import sys

from aegan.cli import main

sys.exit(main())
