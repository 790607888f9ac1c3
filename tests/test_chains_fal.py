"""Edit again (issue 32) through a real provider protocol: hf_inference with provider fal-ai,
the real huggingface_hub client against the stand-in fal queue on 127.0.0.1
(tests/fakes/hf_server.py). Each turn's source, as fal receives it, is its parent's stored file
byte for byte; quota is charged per turn and a failed turn is refunded exactly."""

import io

import pytest
from PIL import Image

from imagegen import chains, services
from imagegen.models import Generation, Quota
from tests import photos
from tests.conftest import run_queued_generations

KONTEXT = "black-forest-labs/FLUX.1-Kontext-dev"


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def day_used(user):
    quota = Quota.objects.filter(user=user).first()
    return quota.day_used if quota else 0


def stored(generation):
    with generation.image.open("rb") as handle:
        return handle.read()


def turn(fal_edits, user, **request):
    """One turn submitted and made; returns it fresh, the units it cost while queued and the
    photo fal received for it (None when nothing reached fal)."""
    before, received = day_used(user), len(fal_edits.received_images)
    generation = services.submit_generation(
        user=user, task="edit", width=320, height=240, **request
    )
    charged = day_used(user) - before
    run_queued_generations()
    generation.refresh_from_db()
    sent = fal_edits.received_images[received:]
    assert len(sent) <= 1
    return generation, charged, (sent[0] if sent else None)


def test_a_three_step_chain_with_a_branch_sends_each_parent_as_stored_to_fal(user, fal_edits):
    upload = services.store_upload(user=user, data=photos.jpeg_with_gps(320, 240))
    first, charged, sent = turn(fal_edits, user, prompt="at sunset", source_image=upload)
    assert first.status == Generation.Status.SUCCEEDED, first.error_detail
    assert first.provider == "hf_inference" and first.model_name == KONTEXT
    with upload.image.open("rb") as handle:
        assert sent == handle.read()  # the clean upload, as the first turn of any edit
    assert charged == first.units > 0

    versions = {"first": first}
    for name, parent, instruction in (
        ("second", "first", "remove the tourists"),
        ("third", "second", "make the jacket red"),
        ("branch", "second", "make the jacket blue"),  # version 2 again, after version 3
    ):
        parent = versions[parent]
        version, charged, sent = turn(fal_edits, user, prompt=instruction, parent=parent)
        assert version.status == Generation.Status.SUCCEEDED, version.error_detail
        # The parent's stored file went to fal byte for byte: no second upload, no re-encode.
        assert sent == stored(parent)
        assert sent.startswith(b"\x89PNG")
        assert (version.parent_id, version.chain_root_id) == (parent.pk, first.pk)
        assert version.source_image_id is None
        assert charged == version.units == first.units  # each turn costs what an edit costs
        versions[name] = version
    assert first.chain_root_id is None and first.parent_id is None
    (job,) = [j for j in fal_edits.jobs.values() if j.prompt == "make the jacket blue"]
    assert Image.open(io.BytesIO(job.image)).size == (first.width, first.height)

    chain = chains.chain_of(versions["second"])
    assert [v.pk for v in chain.children] == [versions["third"].pk, versions["branch"].pk]
    assert [v.pk for v in chains.chain_of(versions["third"]).branch] == [
        first.pk,
        versions["second"].pk,
        versions["third"].pk,
    ]
    assert day_used(user) == 4 * first.units

    # A turn fal refuses fails, and exactly its units come back; nothing else moves.
    fal_edits.behaviour = "401"
    failed, charged, sent = turn(fal_edits, user, prompt="at night", parent=versions["third"])
    assert (failed.status, failed.failure_class) == ("failed", "misconfigured")
    assert charged == first.units
    assert sent == stored(versions["third"])  # it did reach fal, as stored
    assert (failed.parent_id, failed.chain_root_id) == (versions["third"].pk, first.pk)
    assert day_used(user) == 4 * first.units
