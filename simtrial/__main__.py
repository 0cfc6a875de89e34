"""``python -m simtrial``: same as the ``simtrial`` console script."""

from .cli import entry

if __name__ == "__main__":
    entry()
