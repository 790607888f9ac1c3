"""System checks for content credentials: a configured certificate that cannot sign stops
`manage.py check`; the local, untrusted one is a warning in `check --deploy`."""

import datetime

from cryptography import x509
from django.core import checks

from . import signing_key


@checks.register(checks.Tags.security)
def check_signing_certificate(app_configs, **kwargs):
    """C2PA_SIGNING_CERT and C2PA_SIGNING_KEY, when set, are a readable chain and its key, and
    the signing certificate has not expired."""
    if signing_key.uses_local_certificate():
        return []
    try:
        identity = signing_key.signing_identity()
    except signing_key.SigningKeyError as exc:
        return [checks.Error(str(exc), hint="README, Marks.", id="imagegen.E030")]
    expires = x509.load_pem_x509_certificates(identity.chain)[0].not_valid_after_utc
    if expires <= datetime.datetime.now(datetime.UTC):
        return [
            checks.Error(
                f"The C2PA signing certificate ({identity.subject}) expired on {expires:%Y-%m-%d}.",
                hint="Renew it, or point C2PA_SIGNING_CERT and C2PA_SIGNING_KEY at a new one.",
                id="imagegen.E031",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_trusted_signer(app_configs, **kwargs):
    """`check --deploy`: content credentials are signed with the local, untrusted certificate."""
    if not signing_key.uses_local_certificate():
        return []
    return [
        checks.Warning(
            "Content credentials are signed with a local certificate (no C2PA_SIGNING_CERT and "
            "C2PA_SIGNING_KEY): verifiers show the signer as untrusted.",
            hint="Get a C2PA signing certificate from a CA on the C2PA trust list and set both "
            "(README, Marks).",
            id="imagegen.W030",
        )
    ]
