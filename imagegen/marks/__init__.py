"""Marks on every image the site makes: content credentials (C2PA), an invisible watermark and a
visible label; `marking` applies them in order. Pure tools: no models, no views.

Importing the package registers its system checks (`checks`).
"""

from . import checks  # noqa: F401  (registers the system checks)
