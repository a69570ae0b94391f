"""``python -m latentforge [info|bench ...]``: the ``latentforge`` command line."""

import sys

from latentforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
