"""gapmap: palliative care access gaps between GPs and specialist palliative care services.

The package is flat, one module per concern (see DESIGN.md in the project docs):
``roads`` → ``network`` → ``travel`` compute road travel times; ``facilities``,
``population``, ``remoteness`` and ``need`` load the layers; ``access`` and ``gaps`` classify
coverage; ``maps`` and ``report`` draw it; ``pipeline`` orchestrates; ``cli`` is the command.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
