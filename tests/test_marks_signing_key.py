"""The signing certificate: the local CA made once however many workers start at once, what the
certificate must carry for c2pa-python, the operator's own, and the system checks."""

import datetime
import logging
import multiprocessing
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core import checks

from imagegen.marks import credentials, signing_key
from imagegen.marks.credentials import Provenance
from tests.marks_images import encoded, photo_like

WORKERS = 6


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


def make_at_once(folder, barrier, answers):
    barrier.wait()
    made = signing_key.ensure_local_certificate(folder)
    answers.put((made, (folder / signing_key.CHAIN_FILE).read_bytes()))


def test_the_local_ca_is_made_once_when_many_workers_start_together(tmp_path):
    folder = tmp_path / "c2pa"
    context = multiprocessing.get_context("fork")
    barrier, answers = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=make_at_once, args=(folder, barrier, answers))
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    results = [answers.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(made for made, _ in results) == 1
    assert len({chain for _, chain in results}) == 1
    # Nothing half-made is left beside it, and the key is the owner's alone.
    assert [path.name for path in tmp_path.iterdir()] == ["c2pa"]
    assert stat.S_IMODE((folder / signing_key.KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_making_it_says_verifiers_will_show_an_untrusted_signer(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="imagegen.marks"):
        assert signing_key.ensure_local_certificate(tmp_path / "c2pa")
        assert not signing_key.ensure_local_certificate(tmp_path / "c2pa")
    (record,) = caplog.records
    assert "untrusted signer" in record.getMessage()
    assert "C2PA_SIGNING_CERT" in record.getMessage()


def test_the_signing_certificate_carries_what_c2pa_python_needs(tmp_path):
    signing_key.ensure_local_certificate(tmp_path / "c2pa")
    leaf, ca = x509.load_pem_x509_certificates(
        (tmp_path / "c2pa" / signing_key.CHAIN_FILE).read_bytes()
    )
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(purposes) == {ExtendedKeyUsageOID.EMAIL_PROTECTION, signing_key.CLAIM_SIGNING}
    assert leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    authority = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    subject_of_ca = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert authority.key_identifier == subject_of_ca.digest
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.issuer == ca.subject
    # The CA's key is not kept: nothing else can ever be signed by it.
    assert sorted(p.name for p in (tmp_path / "c2pa").iterdir()) == sorted(
        [signing_key.CA_FILE, signing_key.CHAIN_FILE, signing_key.KEY_FILE]
    )


def operator_files(tmp_path, *, key_of_another=False, expired=False, usable=True):
    """A chain and key (P-384) as an operator's CA would issue them; `usable` adds the key
    usages c2pa-python asks of a signing certificate."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Operator Root")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jeju Travel Co.")])

    def builder(subject, issuer, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1) if expired else now.replace(2040))
        )

    ca = (
        builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA384())
    )
    leaf = builder(name, ca_name, key.public_key())
    if usable:
        leaf = (
            leaf.add_extension(signing_key.key_usage(digital_signature=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.EMAIL_PROTECTION, signing_key.CLAIM_SIGNING]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
    leaf = leaf.sign(ca_key, hashes.SHA384())
    pem = serialization.Encoding.PEM
    cert_path, key_path = tmp_path / "operator.pem", tmp_path / "operator.key"
    cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    signing = ec.generate_private_key(ec.SECP384R1()) if key_of_another else key
    key_path.write_bytes(
        signing.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


PROVENANCE = Provenance(provider="demo", model="m", when=datetime.datetime.now(datetime.UTC))


def test_the_operators_certificate_signs_when_configured(settings, tmp_path):
    settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY = operator_files(tmp_path)
    assert not signing_key.uses_local_certificate()
    identity = signing_key.signing_identity()
    assert not identity.local and identity.algorithm == "es384"
    assert identity.subject == "CN=Jeju Travel Co."
    signed = credentials.sign(encoded(photo_like(1, 64, 64)), "image/png", PROVENANCE)
    assert not (tmp_path / "c2pa").exists()
    report = credentials.read(signed, "image/png")
    assert report.valid and report.signed_here and "Jeju Travel Co." in report.signer
    trusted = credentials.read(signed, "image/png", trust_anchors=identity.anchors)
    assert trusted.validation_state == "Trusted"


def test_a_certificate_without_the_key_usages_is_refused_by_the_library(settings, tmp_path):
    settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY = operator_files(tmp_path, usable=False)
    with pytest.raises(credentials.SigningError):
        credentials.sign(encoded(photo_like(1, 64, 64)), "image/png", PROVENANCE)


def security_check_ids(deploy):
    found = checks.run_checks(tags=[checks.Tags.security], include_deployment_checks=deploy)
    return {message.id for message in found if message.id.startswith("imagegen.")}


def test_check_deploy_warns_while_the_local_certificate_signs(settings, tmp_path):
    assert signing_key.uses_local_certificate()
    assert "imagegen.W030" in security_check_ids(deploy=True)
    assert "imagegen.W030" not in security_check_ids(deploy=False)
    settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY = operator_files(tmp_path)
    assert "imagegen.W030" not in security_check_ids(deploy=True)


def test_a_key_that_is_not_the_certificates_stops_the_checks(settings, tmp_path):
    settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY = operator_files(
        tmp_path, key_of_another=True
    )
    with pytest.raises(signing_key.SigningKeyError, match="not the key of the first"):
        signing_key.signing_identity()
    assert "imagegen.E030" in security_check_ids(deploy=False)


def test_an_expired_or_missing_certificate_stops_the_checks(settings, tmp_path):
    settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY = operator_files(tmp_path, expired=True)
    assert "imagegen.E031" in security_check_ids(deploy=False)
    settings.C2PA_SIGNING_CERT = str(tmp_path / "nowhere.pem")
    assert "imagegen.E030" in security_check_ids(deploy=False)
