"""Give a user extra generations beyond their daily and monthly limits."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from imagegen import services


class Command(BaseCommand):
    help = "Grant N bonus credits to a user: extra generations once a limit is reached."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("credits", type=int)

    def handle(self, *args, username, credits, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        if credits < 1:
            raise CommandError("Grant at least 1 credit.")
        balance = services.grant_credits(user=user, credits=credits)
        self.stdout.write(f"Granted {credits} credit(s) to {username}; they now have {balance}.")
