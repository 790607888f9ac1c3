"""Pages and endpoints for signed-in users: create, watch, browse, open and download."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import GenerationForm, initial_from
from .models import Generation

RECENT_ON_CREATE_PAGE = 6
GALLERY_PAGE_SIZE = 24


def _own_generation(request, generation_id):
    # Someone else's generation is "not found", exactly like one that does not exist.
    return get_object_or_404(Generation, pk=generation_id, owner=request.user)


@login_required
def create(request):
    """The prompt page: the form, the quota, and the latest generations with live status."""
    quota = selectors.quota_status(request.user)
    if request.method == "POST":
        form = GenerationForm(request.POST)
        if form.is_valid():
            try:
                services.submit_generation(user=request.user, **form.generation_kwargs())
            except services.QuotaExceeded as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Queued. It will appear below when it is ready.")
                return redirect("imagegen:create")
    else:
        form = GenerationForm(initial=_remix_initial(request))
    recent = selectors.generations_of(request.user)[:RECENT_ON_CREATE_PAGE]
    return render(request, "imagegen/create.html", {"form": form, "quota": quota, "recent": recent})


def _remix_initial(request):
    """Form values from ?from=<id> (and &vary=1 for a new seed): one of the user's own."""
    source_id = request.GET.get("from")
    if not source_id:
        return {}
    try:
        source = Generation.objects.select_related("preset").get(pk=source_id, owner=request.user)
    except (Generation.DoesNotExist, ValidationError):
        return {}
    return initial_from(source, vary=bool(request.GET.get("vary")))


@login_required
def gallery(request):
    """The user's generations, newest first, paginated."""
    paginator = Paginator(selectors.generations_of(request.user), GALLERY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "imagegen/gallery.html", {"page": page})


@login_required
def detail(request, generation_id):
    generation = _own_generation(request, generation_id)
    return render(
        request,
        "imagegen/detail.html",
        {"generation": generation, "position": selectors.queue_position(generation)},
    )


@login_required
def status(request, generation_id):
    """JSON for the live status poll."""
    generation = _own_generation(request, generation_id)
    return JsonResponse(status_payload(generation))


def status_payload(generation):
    done = generation.status == Generation.Status.SUCCEEDED
    elapsed = None
    if generation.started_at:
        end = generation.finished_at or timezone.now()
        elapsed = round((end - generation.started_at).total_seconds(), 1)
    return {
        "id": str(generation.pk),
        "status": generation.status,
        "status_label": generation.get_status_display(),
        "active": generation.is_active,
        "position": selectors.queue_position(generation),
        "elapsed_seconds": elapsed,
        "error": generation.error_message,
        "detail_url": reverse("imagegen:detail", args=[generation.pk]),
        "image_url": reverse("imagegen:image", args=[generation.pk]) if done else None,
        "thumbnail_url": reverse("imagegen:thumbnail", args=[generation.pk]) if done else None,
    }


def _send_file(field, *, content_type, download_name=None):
    if not field:
        raise Http404("No image yet.")
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The image file is missing.") from exc
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=download_name is not None,
        filename=download_name or "",
    )
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
def image(request, generation_id):
    """The original PNG, inline or (with ?download=1) as an attachment."""
    generation = _own_generation(request, generation_id)
    name = f"travelfit-{generation.pk}.png" if request.GET.get("download") else None
    return _send_file(generation.image, content_type="image/png", download_name=name)


@login_required
def thumbnail(request, generation_id):
    generation = _own_generation(request, generation_id)
    return _send_file(generation.thumbnail, content_type="image/webp")


@login_required
@require_POST
def cancel(request, generation_id):
    generation = _own_generation(request, generation_id)
    if services.cancel_generation(generation_id=generation.pk, user=request.user):
        messages.success(request, "Canceled; your quota was given back.")
    else:
        messages.error(request, "It has already started, so it can no longer be canceled.")
    return redirect("imagegen:detail", generation_id=generation.pk)


@login_required
@require_POST
def retry(request, generation_id):
    """Queue the same request again (a new generation, reserving quota again)."""
    generation = _own_generation(request, generation_id)
    try:
        again = services.retry_generation(generation_id=generation.pk, user=request.user)
    except services.QuotaExceeded as exc:
        messages.error(request, str(exc))
        return redirect("imagegen:detail", generation_id=generation.pk)
    messages.success(request, "Queued again with the same parameters.")
    return redirect("imagegen:detail", generation_id=again.pk)
