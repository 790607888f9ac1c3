"""django-q2 entry points. Thin on purpose: the work lives in `imagegen.services`."""

from . import services, webhooks


def run_generation(generation_id):
    """Run one queued generation (queued by services.enqueue_generation)."""
    services.run_generation(generation_id)


def recover_stuck():
    """The scheduled sweep (see migration 0006); every qcluster also runs it on its own."""
    services.recover_stuck()


def deliver_webhook(generation_id, attempt=1):
    """One attempt at a generation's webhook (queued by webhooks.generation_ended, and by a
    failed attempt's Schedule)."""
    webhooks.deliver(generation_id, attempt)


def cleanup_uploads():
    """The hourly deletion of photos past their retention (see migration 0014)."""
    services.delete_expired_uploads()


def deliver_trip_webhook(trip_id, attempt=1):
    """One attempt at a trip's `trip.completed` webhook (services.trips.generation_ended)."""
    from .services import trips

    trips.deliver_trip(trip_id, attempt)
