"""Allow ``python -m geo`` as an alias of the ``gapmap`` command."""

from geo.cli import main

raise SystemExit(main())
