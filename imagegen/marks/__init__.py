"""Marks on every image the site makes: content credentials (C2PA), an invisible watermark and a
visible label. Pure tools: no models, no views."""
