"""``python -m simtrial``: same as the ``simtrial`` console script."""

import sys

try:
    from .cli import entry
except KeyboardInterrupt:       # Ctrl-C while the command line is still loading: no traceback
    print("interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    entry()
