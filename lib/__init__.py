"""The floor every app stands on: redaction, request ids, the JSON error shape, the rate counter
and the site-wide middleware. It imports Django, third-party packages and itself, never an app."""
