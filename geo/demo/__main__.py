"""``python -m geo.demo --out DIR``: regenerate the demo inputs."""

from geo.demo.generator import main

raise SystemExit(main())
