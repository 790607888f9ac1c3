"""The marks (imagegen/marks/) on a generation's result: its watermark id, what its content
credentials say, the marked bytes the worker stores, and the labelled copy that downloads and
shares serve.

Order (issue 30): the PNG `parameters` chunk is already in the bytes the worker hands over;
`mark_result` adds the watermark, then signs, so the manifest's hash binds the final bytes.
The labelled copy (IMAGEGEN_VISIBLE_LABEL=files) is the original with the label burnt in, signed
again naming the original as its parent; the worker makes it right after the result is
recorded, and a download that comes first makes it then (`labelled_file`).
"""

import logging
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from .. import licences
from ..marks import marking, watermark
from ..marks.credentials import Ingredient, Provenance
from ..models import Generation

logger = logging.getLogger(__name__)

# What a user's photo is called in a manifest: never its file name, which may name a person.
PHOTO_TITLES = {"source_image": "the user's photo", "garment_image": "the garment's photo"}
MARK_ID_TRIES = 32


class MarkIdsExhausted(Exception):
    """No free watermark id was found (16.7 million are in use, or nearly)."""


def draw_mark_id() -> int:
    """A random watermark id (1 to 2²⁴ − 1); the unique column says whether it is free."""
    return 1 + secrets.randbelow(watermark.MAX_MARK_ID)


def reserve_mark_id(generation_id) -> int:
    """The generation's watermark id: its own if it has one (drawn when a worker claimed it,
    or a retried task's), else a random free one, claimed with a conditional UPDATE (unique:
    two workers never share one)."""
    for _ in range(MARK_ID_TRIES):
        candidate = draw_mark_id()
        try:
            with transaction.atomic():
                if Generation.objects.filter(pk=generation_id, mark_id__isnull=True).update(
                    mark_id=candidate
                ):
                    return candidate
        except IntegrityError:
            continue  # taken by another generation: draw again
        return Generation.objects.values_list("mark_id", flat=True).get(pk=generation_id)
    raise MarkIdsExhausted(f"No free watermark id after {MARK_ID_TRIES} draws.")


def provenance_for(
    generation: Generation,
    *,
    provider: str,
    model: str,
    photos: dict[str, bytes],
    when,
    edited: Generation | None = None,
) -> Provenance:
    """What the result's manifest says: provider, model and its licence, the time; the photos
    that went in by hash only; the prompt only when the owner asked for it. Never the owner.
    `edited` is the site's result an edit again was made from: its image (with its own
    credentials) is the parent ingredient, and `photos["source_image"]` holds its bytes."""
    ingredients = tuple(
        Ingredient.photo(
            data,
            title=PHOTO_TITLES[field],
            content_type=getattr(generation, field).content_type,
        )
        for field, data in photos.items()
        if data is not None and getattr(generation, field, None) is not None
    )
    parent = None
    if edited is not None and photos.get("source_image") is not None:
        parent = Ingredient.parent(
            photos["source_image"],
            title="the TravelFit image it was edited from",
            content_type=edited.image_content_type,
        )
    prompt = ""
    if generation.include_prompt:
        prompt = generation.preset_input or generation.prompt
    return Provenance(
        provider=provider,
        model=model,
        when=when,
        photos=ingredients,
        parent=parent,
        model_licence=licences.licence_of(model),
        prompt=prompt,
        title=f"TravelFit image.{generation.image_extension}",
    )


def provenance_of_stored(generation: Generation) -> Provenance:
    """The provenance of a recorded generation (for its labelled copy; its photos stay in the
    original's manifest, which the copy carries as its parent's)."""
    return Provenance(
        provider=generation.provider,
        model=generation.model_name,
        when=generation.finished_at or generation.created_at,
        model_licence=licences.licence_of(generation.model_name),
        prompt=(generation.preset_input or generation.prompt) if generation.include_prompt else "",
        title=generation.download_name,
    )


def label_language(generation: Generation) -> str:
    """The language of a generation's burnt label: the request's that made it, else the site's."""
    return generation.language or settings.LANGUAGE_CODE


def labels_files() -> bool:
    """True when downloads and shares get the label burnt in (IMAGEGEN_VISIBLE_LABEL=files)."""
    return settings.IMAGEGEN_VISIBLE_LABEL == "files"


def make_labelled_copy(
    generation: Generation, *, marked: marking.MarkedImage | None = None
) -> bool:
    """Store the generation's labelled copy unless it has one; True when it has one after.
    `marked`: the worker's marked result, when it is the stored original (its bytes and pixels
    are used instead of reading and decoding the file). Two callers at once both make one; the
    first recorded stays, the other is deleted."""
    if generation.labelled_image:
        return True
    if not generation.image:
        return False
    if marked is not None:
        original = marked.data
    else:
        with generation.image.open("rb") as handle:
            original = handle.read()
    content_type = generation.image_content_type
    data = marking.labelled_copy(
        original,
        content_type,
        language=label_language(generation),
        provenance=provenance_of_stored(generation),
        title=generation.download_name,
        marked=marked,
    )
    field = generation.labelled_image
    field.save(f"labelled.{generation.image_extension}", ContentFile(data), save=False)
    recorded = Generation.objects.filter(pk=generation.pk, labelled_image="").update(
        labelled_image=field.name
    )
    if not recorded:
        field.delete(save=False)
        generation.refresh_from_db(fields=["labelled_image"])
    return bool(generation.labelled_image)


def labelled_file(generation: Generation):
    """The file a download or a share serves: the labelled copy (made now if the worker has
    not yet), or with IMAGEGEN_VISIBLE_LABEL=pages the original (still marked)."""
    if not labels_files():
        return generation.image
    try:
        make_labelled_copy(generation)
    except (OSError, marking.credentials.SigningError, ValueError):
        # Never serve an unlabelled file where a labelled one is due: the caller gets None.
        logger.exception("generation %s: its labelled copy could not be made", generation.pk)
        return None
    return generation.labelled_image
