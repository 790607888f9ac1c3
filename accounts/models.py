"""What the accounts app keeps: counters of recent actions per client address."""

from django.db import models
from django.db.models import Q


class AddressThrottle(models.Model):
    """How many times one client address did one thing (sign up, ask for a reset) in a window.

    Taken with a single conditional UPDATE (accounts.throttles.take), as the generation quota
    is, so concurrent requests from one address can never pass the limit.
    """

    action = models.CharField(max_length=32)
    address = models.CharField(max_length=64, help_text="IPv4 address, or an IPv6 /64 prefix.")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "address"], name="throttle_action_address"),
            models.CheckConstraint(condition=Q(count__gte=0), name="throttle_count_not_negative"),
        ]

    def __str__(self):
        return f"{self.action} from {self.address}: {self.count} since {self.window_start:%H:%M}"
