"""``python -m simtrial``: same as the ``simtrial`` console script."""

from .cli import _entry

if __name__ == "__main__":
    _entry()
