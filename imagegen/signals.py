"""The app's own signals: for a part that must hear of an event without the sender importing it.

- `generation_ended(generation_id=)`: sent by webhooks.generation_ended, inside the transaction
  in which a generation reached an end state (succeeded, failed, cancelled, rejected). The trip
  lookbook (services.trips) completes a trip on it; connected when the app is ready.
"""

from django.dispatch import Signal

generation_ended = Signal()
