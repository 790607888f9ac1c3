"""django-q2 entry points. Thin on purpose: the work lives in `imagegen.services`."""

from . import services


def run_generation(generation_id):
    """Run one queued generation (queued by services.enqueue_generation)."""
    services.run_generation(generation_id)
