"""Allow ``python -m geo`` as an alias of the ``gapmap`` command."""

from geo.cli import console

if __name__ == "__main__":  # a spawned worker process imports this module again
    console()
