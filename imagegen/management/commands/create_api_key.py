"""Make an API key for a user and print it, with its webhook secret, this once."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imagegen import services


class Command(BaseCommand):
    help = (
        "Make an API key named NAME for USERNAME and print it with its webhook secret. Neither "
        "can be shown again: TravelFit keeps only the key's fingerprint."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="What the key is for, to tell keys apart.")
        parser.add_argument(
            "--callback-url",
            default="",
            help="Webhook URL for generations made with this key that name none "
            "(checked like a request's callback_url).",
        )

    def handle(self, *args, username, name, callback_url, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        if not user.is_active:
            raise CommandError(f"{username} is not active: a key of theirs would not work.")
        name = name.strip()
        if not name or len(name) > 80:
            raise CommandError("Give the key a name of 1 to 80 characters.")
        try:
            token, key = services.create_api_token(
                user=user, name=name, default_callback_url=callback_url
            )
        except ValidationError as exc:
            raise CommandError(f"Callback URL refused: {' '.join(exc.messages)}") from exc
        self.stdout.write(f"API key “{token.name}” for {username} (shown only this once):")
        self.stdout.write(f"  key:            {key}")
        self.stdout.write(f"  webhook secret: {token.webhook_secret}")
        if token.default_callback_url:
            self.stdout.write(f"  webhook URL:    {token.default_callback_url}")
        self.stdout.write("Send it as `Authorization: Bearer <key>`.")
