"""Edit again (issue 32): where a new version of a result starts, checked at submission, and
keeping a deleted version's children in their chain. The reads are in imagegen/chains.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from .. import chains
from ..models import Generation, GenerationTask, Upload
from .errors import InvalidRequest, ParentRefused

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class ChainStart:
    """A new version's links and start: the photo it uses (only for an edit from the original
    of a photo; else the worker reads the result's stored image) and that image's size."""

    parent: Generation
    chain_root: Generation
    source_image: Upload | None
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def start_from(
    *,
    user: AbstractBaseUser,
    parent: Generation | str,
    task: str,
    source_image: Upload | None,
    from_original: bool = False,
) -> ChainStart:
    """Where an edit of the user's finished result `parent` starts, or why it cannot:
    InvalidRequest for another task or a photo sent as well, ParentRefused for a parent that
    is not the user's (404), not finished (409), held (409) or ends a full chain."""
    if task != GenerationTask.EDIT:
        raise InvalidRequest("parent", gettext("Only an edit can continue a picture."))
    if source_image is not None:
        raise InvalidRequest(
            "source_image",
            gettext("The picture edited again is the photo here: leave this out."),
        )
    parent = _own_result(user, parent)
    root = parent.chain_root or parent
    if chains.length_with(parent) > settings.IMAGEGEN_CHAIN_MAX:
        raise ParentRefused(
            gettext(
                "This chain has reached %(max)s pictures, the most one can have. Start a new "
                "edit from its last picture's download, or edit an earlier version."
            )
            % {"max": settings.IMAGEGEN_CHAIN_MAX},
            http_status=400,
            code="chain_too_long",
        )
    start = parent
    photo = None
    if from_original:
        start = root
        if root.task == GenerationTask.EDIT:
            photo = root.source_image
            if photo is None:
                raise InvalidRequest(
                    "from_original",
                    gettext(
                        "The first photo of this chain was deleted %(days)s days after its "
                        "last use: edit the last version instead."
                    )
                    % {"days": settings.IMAGEGEN_UPLOAD_RETENTION_DAYS},
                )
    width, height = (photo.width, photo.height) if photo else (start.width, start.height)
    return ChainStart(
        parent=parent, chain_root=root, source_image=photo, width=width, height=height
    )


def _own_result(user, parent):
    """The user's finished, visible result `parent` (an id or a generation), or ParentRefused."""
    parent_id = parent.pk if isinstance(parent, Generation) else parent
    try:
        found = (
            Generation.objects.select_related("chain_root", "chain_root__source_image")
            .filter(pk=parent_id, owner=user)
            .first()
        )
    except (ValidationError, ValueError):
        found = None
    if found is None:
        raise ParentRefused(
            gettext("There is no picture of yours with this id."), http_status=404, code="not_found"
        )
    if found.status in (Generation.Status.HELD, Generation.Status.REJECTED):
        raise ParentRefused(
            gettext("This picture is being reviewed for safety: it cannot be edited again."),
            http_status=409,
            code="parent_held",
        )
    if found.status != Generation.Status.SUCCEEDED:
        raise ParentRefused(
            gettext("Only a finished picture can be edited again; this one is %(status)s.")
            % {"status": found.get_status_display()},
            http_status=409,
            code="parent_unfinished",
        )
    return found


def keep_children(generation: Generation) -> None:
    """Before `generation` is deleted: its children take its parent as theirs, so they stay
    in the chain; when it was the first picture, each child becomes the first of its own."""
    children = list(Generation.objects.filter(parent=generation).values_list("pk", flat=True))
    if not children:
        return
    if generation.chain_root_id is not None:
        Generation.objects.filter(pk__in=children).update(parent=generation.parent_id)
        return
    members = chains.members_of(generation)
    for child in children:
        below = [
            member.pk
            for member in members
            if member.pk != child
            and child in {version.pk for version in chains.path_to(member, members)}
        ]
        Generation.objects.filter(pk=child).update(parent=None, chain_root=None)
        Generation.objects.filter(pk__in=below).update(chain_root=child)
