"""Edit again on the detail page (issue 32): the form that posts a new version of a finished
picture, and what the page shows of its chain (the strip, the before/after)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import chains, presenters, services, tiers
from .models import Generation


def chain_context(generation: Generation) -> dict:
    """The detail page's chain: the strip (the branch it is on, when it is in a chain), the
    parent to compare with, and the price of one more edit."""
    chain = chains.chain_of(generation)
    parent = generation.parent
    tier = tiers.tier_of(generation.tier) if tiers.tier_named(generation.tier) else None
    return {
        "chain": chain if chain.is_chain else None,
        "compare_with": parent if parent and parent.status == Generation.Status.SUCCEEDED else None,
        "edit_tier": tier or tiers.default_tier(),
    }


@login_required
@require_POST
def edit_again(request, generation_id):
    """Queue an edit of the user's finished picture with the instruction posted; no photo to
    upload and no consent to tick again (the picture is already theirs, already checked)."""
    generation = get_object_or_404(Generation, pk=generation_id, owner=request.user)
    detail = reverse("imagegen:detail", args=[generation.pk])
    instruction = request.POST.get("prompt", "").strip()
    if not instruction:
        messages.error(request, _("Say how to change the picture."))
        return redirect(detail)
    try:
        version = services.submit_generation(
            user=request.user,
            task=Generation.Task.EDIT,
            prompt=instruction[:2000],
            width=generation.width,
            height=generation.height,
            parent=generation,
            from_original=request.POST.get("from_original") == "1",
            tier=request.POST.get("tier") or generation.tier,
            origin=presenters.request_origin(request),
        )
    except services.SubmissionRefused as exc:
        messages.error(request, str(exc))
        return redirect(detail)
    messages.success(request, _("Queued: a new version of this picture."))
    return redirect("imagegen:detail", generation_id=version.pk)
