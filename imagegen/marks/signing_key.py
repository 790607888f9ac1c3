"""The certificate and key that sign content credentials: the operator's, or a local one.

`C2PA_SIGNING_CERT` and `C2PA_SIGNING_KEY` name PEM files: the certificate chain (signing
certificate first) and its private key. Without them, the first signature makes a local CA and
an ES256 signing certificate under DATA_DIR/c2pa/, once, even when several workers start
together: they are written into a private folder that is then renamed into place, and a rename
onto a folder that already exists fails, so the first one wins and the others read its files.
Verifiers show such a signer as untrusted: nobody but this site knows the local CA.

The local CA's private key is thrown away once it has signed the signing certificate, so only
that certificate can ever chain to it (what `credentials.read` relies on for `signed_here`).
"""

import datetime
import functools
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from django.conf import settings

logger = logging.getLogger("imagegen.marks")

LOCAL_FOLDER = "c2pa"
CA_FILE, CHAIN_FILE, KEY_FILE = "local-ca.pem", "signing-chain.pem", "signing-key.pem"
# C2PA's claim-signing key purpose. c2pa-python 0.38 also wants emailProtection beside it.
CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
ORGANIZATION = "TravelFit (local, untrusted)"
UNTRUSTED_NOTICE = (
    "Content credentials are signed with a local certificate made by this TravelFit (%s): "
    "verifiers will show an untrusted signer. Set C2PA_SIGNING_CERT and C2PA_SIGNING_KEY to a "
    "certificate from a C2PA-trusted CA (README, Marks)."
)
_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


class SigningKeyError(Exception):
    """The configured certificate or key cannot be used; the message says which and why."""


@dataclass(frozen=True)
class SigningIdentity:
    """What signs: the chain (signing certificate first) and key as PEM, and who that is."""

    chain: bytes
    private_key: bytes
    algorithm: str
    local: bool
    subject: str
    serial_number: int

    @property
    def anchors(self) -> bytes:
        """The chain above the signing certificate (PEM): what a reader trusts to check that
        a manifest was signed by this identity."""
        certificates = x509.load_pem_x509_certificates(self.chain)
        above = certificates[1:] or certificates
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in above)


def uses_local_certificate() -> bool:
    """True while no operator certificate is configured (C2PA_SIGNING_CERT/_KEY unset)."""
    return not (settings.C2PA_SIGNING_CERT and settings.C2PA_SIGNING_KEY)


def signing_identity() -> SigningIdentity:
    """The operator's certificate and key, or the local ones (made on first use)."""
    if uses_local_certificate():
        return _local_identity(Path(settings.DATA_DIR) / LOCAL_FOLDER)
    return _operator_identity(settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY)


@functools.lru_cache(maxsize=4)
def _operator_identity(cert_path, key_path):
    try:
        chain = Path(cert_path).read_bytes()
        private_key = Path(key_path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"Cannot read {exc.filename}: {exc.strerror}.") from exc
    return identity_from_pem(chain, private_key, local=False)


@functools.lru_cache(maxsize=4)
def _local_identity(folder):
    ensure_local_certificate(folder)
    chain = (folder / CHAIN_FILE).read_bytes()
    return identity_from_pem(chain, (folder / KEY_FILE).read_bytes(), local=True)


def identity_from_pem(chain: bytes, private_key: bytes, *, local: bool) -> SigningIdentity:
    """Check a PEM chain and key belong together and say what algorithm they sign with."""
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError as exc:
        raise SigningKeyError(f"C2PA_SIGNING_CERT holds no PEM certificate ({exc}).") from exc
    try:
        key = serialization.load_pem_private_key(private_key, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"C2PA_SIGNING_KEY is not an unencrypted PEM private key ({exc})."
        ) from exc
    leaf = certificates[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SigningKeyError(
            "C2PA_SIGNING_KEY is not the key of the first certificate in C2PA_SIGNING_CERT."
        )
    return SigningIdentity(
        chain=chain,
        private_key=private_key,
        algorithm=_algorithm(key),
        local=local,
        subject=leaf.subject.rfc4514_string(),
        serial_number=leaf.serial_number,
    )


def _algorithm(key):
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return _CURVES[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise SigningKeyError(
        "C2PA_SIGNING_KEY must be an EC (P-256, P-384, P-521), RSA or Ed25519 key."
    )


def ensure_local_certificate(folder: Path) -> bool:
    """Make the local CA and signing certificate in `folder` unless they are there already.
    True when this call made them. Safe when many processes call it at once."""
    folder = Path(folder)
    if folder.is_dir():
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    draft = folder.parent / f".{folder.name}-{os.getpid()}-{secrets.token_hex(4)}"
    draft.mkdir(mode=0o700)
    try:
        _write_local_certificate(draft)
        os.rename(draft, folder)
    except OSError:
        shutil.rmtree(draft, ignore_errors=True)
        if folder.is_dir():  # another process won the race: its files are complete
            return False
        raise
    logger.warning(UNTRUSTED_NOTICE, folder)
    return True


def _write_local_certificate(folder):
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("TravelFit local content credentials CA")
    ca = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now, years=10)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.EMAIL_PROTECTION, CLAIM_SIGNING]
    leaf = (
        _certificate(_name("TravelFit content credentials"), ca_name, key.public_key(), now, 5)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / CA_FILE).write_bytes(ca.public_bytes(pem))
    (folder / CHAIN_FILE).write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file = os.open(folder / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(key_file, "wb") as out:
        out.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )


def _name(common_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(subject, issuer, public_key, now, years):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365 * years))
    )


def key_usage(*, digital_signature=False, key_cert_sign=False, crl_sign=False):
    """A KeyUsage extension with only the named usages."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
