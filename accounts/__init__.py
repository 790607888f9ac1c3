"""User accounts: sign-up, and the throttles that keep log-in and sign-up from being abused."""
