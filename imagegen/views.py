"""Pages and endpoints for signed-in users: create, watch, browse, open and download."""

import datetime
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from . import chain_views, chains, media, presenters, selectors, services, tiers
from . import ops as ops_data
from .disclosure import photo_destinations
from .forms import CreateForm, initial_from, reject_control_characters
from .models import PHOTOS_OF_TASK, Generation, Upload
from .paginators import CountedPaginator
from .providers import available_tasks
from .services.marks import labelled_file
from .uploads import UploadRefused, too_large

RECENT_ON_CREATE_PAGE = 6
GALLERY_PAGE_SIZE = 24


def _own_generation(request, generation_id):
    # Someone else's generation is "not found", exactly like one that does not exist.
    return get_object_or_404(Generation, pk=generation_id, owner=request.user)


def own_shown_image(request, generation_id):
    """The user's own generation whose image may be seen: succeeded. One held for review (or
    removed after it) is "not found" to its owner too, until a person approves it."""
    return get_object_or_404(
        Generation, pk=generation_id, owner=request.user, status=Generation.Status.SUCCEEDED
    )


# The create page's form as last sent (each tab's words, the photos kept, the settings), so a
# request can be tweaked and sent again and a tab left for another keeps what it had. Never
# the consent tick: it is asked for each submission.
LAST_REQUEST_SESSION = "travelfit-create-form"
NOT_REMEMBERED = ("consent",)
# Where the page opens after a submission: the latest work, in view on a phone too.
LATEST_ANCHOR = "latest"

# The landing page's examples: pictures the offline demo provider drew
# (providers.demo.draw_postcard(prompt, seed, 480, 360), WebP quality 78, under 6 KB each), in
# static/img/examples/, with the words they were drawn from and what each shows.
LANDING_EXAMPLES = (
    (
        "img/examples/sunrise-sea.webp",
        gettext_lazy("Seongsan Ilchulbong in Jeju at sunrise, by the sea"),
        gettext_lazy("A pale sun rising over lilac hills and a calm sea that reflects it."),
    ),
    (
        "img/examples/desert.webp",
        gettext_lazy("Desert dunes of the Sahara"),
        gettext_lazy("Sand-coloured dunes in rows under a blue sky and a pale sun."),
    ),
    (
        "img/examples/night-harbor.webp",
        gettext_lazy("A quiet harbor by the sea at night, under the stars"),
        gettext_lazy("A full moon and stars over dark hills, the moonlight on the water."),
    ),
    (
        "img/examples/sunset-village.webp",
        gettext_lazy("A mountain village at sunset"),
        gettext_lazy("An orange sun setting behind purple mountain ridges."),
    ),
)
# What each task makes, in a visitor's words; only the tasks this site's providers can do.
LANDING_TASKS = (
    (Generation.Task.TEXT, gettext_lazy("A picture from your words: a place, a moment, a mood.")),
    (
        Generation.Task.EDIT,
        gettext_lazy("Your own photo, changed as you say: “me on a beach in Jeju”."),
    ),
    (
        Generation.Task.TRY_ON,
        gettext_lazy("You in a travel outfit, from a photo of you and one of the clothes."),
    ),
)


def home(request):
    """/: the create page for a signed-in user; for a visitor, a page in their language that
    shows what TravelFit makes and leads to sign-up. A visitor's POST (a session that ended
    while the create page was open) goes to log in, as before."""
    if request.user.is_authenticated or request.method not in ("GET", "HEAD"):
        return create(request)
    tasks = available_tasks()
    return render(
        request,
        "imagegen/landing.html",
        {
            "examples": LANDING_EXAMPLES,
            "tasks": [(task, text) for task, text in LANDING_TASKS if task in tasks],
            "daily_quota": settings.IMAGEGEN_DAILY_QUOTA,
            "picture_price": tiers.picture_price_text(),
        },
    )


@login_required
def create(request):
    """The prompt page: the form, the quota, and the latest generations with live status.

    After a submission the page opens at the new work (#latest), and the form keeps what
    was asked, the tab last used open (the session holds it until the next one), so a
    prompt can be tweaked and sent again; ?from=<id> (a remix) comes first.
    """
    quota = selectors.quota_status(request.user)
    quota_offer = None
    if request.method == "POST":
        data = request.POST.copy()
        refused = _store_photos(request, data)
        form = CreateForm(data, user=request.user, refused_photos=refused)
        if form.is_valid():
            try:
                queued = services.submit_generations(
                    user=request.user,
                    count=form.cleaned_data["n"],
                    origin=presenters.request_origin(request),
                    **form.generation_kwargs(),
                )
            except services.SubmissionRefused as exc:
                quota = selectors.quota_status(request.user)
                # Over quota, the quota box says when more come; the form repeats it only if
                # the box can't (a batch asked for more than is left).
                if not (isinstance(exc, services.QuotaExceeded) and quota.exhausted):
                    form.add_error(_field_on_page(form, exc.field), str(exc))
                if isinstance(exc, services.QuotaExceeded) and exc.fits:
                    quota_offer = _quota_offer(data, exc.fits)
            else:
                request.session[LAST_REQUEST_SESSION] = {
                    name: data[name]
                    for name in form.fields
                    if name in data and name not in NOT_REMEMBERED
                }
                if len(queued) == 1:
                    text = _("Queued. It will appear below when it is ready.")
                else:
                    text = _(
                        "Queued %(count)d pictures. They will appear below when they are ready."
                    ) % {"count": len(queued)}
                _queued_notice(request, queued[-1], text)
                return redirect(reverse("imagegen:create") + "#" + LATEST_ANCHOR)
    else:
        initial = _remix_initial(request) or request.session.get(LAST_REQUEST_SESSION, {})
        form = CreateForm(initial=initial, user=request.user)
    recent = selectors.generations_of(request.user)[:RECENT_ON_CREATE_PAGE]
    # What the page's script needs to let a preset choose its shape and describe itself.
    preset_data = {
        str(preset.pk): {"aspect": preset.aspect, "description": preset.display_description}
        for preset in form.fields["preset"].queryset
    }
    return render(
        request,
        "imagegen/create.html",
        {
            "form": form,
            "quota": quota,
            "recent": recent,
            "preset_data": preset_data,
            "photo_pickers": _photo_pickers(form),
            "tier_options": _tier_options(form),
            "problems": _problems(form),
            "words_fields": _words_fields(form),
            "latest_anchor": LATEST_ANCHOR,
            "quota_offer": quota_offer,
            "photo_destinations": photo_destinations(),
        },
    )


@login_required
@require_POST
def forget_photo(request):
    """The create page's "Remove photo": a kept photo leaves the form the page remembers (the
    photo itself, once no generation uses it, is deleted with the other unused uploads)."""
    field = request.POST.get("field", "")
    remembered = request.session.get(LAST_REQUEST_SESSION)
    if field in CreateForm.PHOTO_FIELDS and remembered and remembered.pop(field, None):
        request.session[LAST_REQUEST_SESSION] = remembered
    anchor = f"#photo-{field}" if field in CreateForm.PHOTO_FIELDS else ""
    return redirect(reverse("imagegen:create") + anchor)


def _field_on_page(form, field):
    """Where the page shows a refusal of `field`: a refused prompt at the chosen task's own
    words (an edit's instruction is not the text tab's prompt)."""
    if field == "prompt":
        return form.words_field(form.cleaned_data["task"])
    return field


def _words_fields(form):
    """Each available task's words field with the task it belongs to, in the tabs' order."""
    return [
        {"field": form[form.words_field(task)], "task": task}
        for task in Generation.Task.values
        if task in form.tasks
    ]


def _problems(form):
    """What the form's summary lists when it was sent back: each field's first message, with
    the label and the id of what to fix (a photo's picker, not its hidden id)."""
    if not form.is_bound or not form.errors:
        return []
    problems = [{"label": "", "message": message, "id": ""} for message in form.non_field_errors()]
    for field in form:
        if not field.errors:
            continue
        target = (
            form[CreateForm.PHOTO_FIELDS[field.name]]
            if field.name in CreateForm.PHOTO_FIELDS
            else field
        )
        problems.append(
            {"label": target.label, "message": field.errors[0], "id": target.id_for_label}
        )
    return problems


def _quota_offer(data, fits):
    """What "Make 3 instead" sends after an over-quota refusal: this request's fields again
    (its kept photos by their ids), asking for the `fits` pictures that what is left pays for.
    The page posts it as a form of its own, so that Enter in the create form still means
    "Generate"."""
    fields = [
        (name, value)
        for name, values in data.lists()
        if name not in {"csrfmiddlewaretoken", "n"}
        for value in values
    ]
    return {"count": fits, "fields": fields}


def _tier_options(form):
    """Each tier's radio with its price and usual wait ("about 8 s · 1 unit"), the tasks it
    can do (the page hides it for the others) and whether it is paused now; empty when the
    site has one tier, so there is nothing to choose."""
    if not tiers.choosable():
        return []
    radios = {radio.data["value"]: radio for radio in form["tier"]}
    options = []
    for tier in tiers.tiers():
        wait = tiers.typical_wait_text(selectors.tier_typical_seconds(tier))
        tasks = tier.tasks()
        options.append(
            {
                "radio": radios[tier.name],
                "label": tier.label,
                "meta": f"{wait} · {tier.units_text()}",
                "tasks": " ".join(task for task in Generation.Task.values if task in tasks),
                "paused": all(services.paused_until(tier, task) is not None for task in tasks),
            }
        )
    return options


def _store_photos(request, data):
    """Keep the photos chosen on the page for the chosen task (services.store_upload) and put
    their ids in `data`; {field: message} for each refused one. A refused photo stores
    nothing; a photo chosen on another task's tab is not kept (that task was not sent)."""
    errors = {}
    oversized = getattr(request, "oversized_uploads", set())
    taken = PHOTOS_OF_TASK.get(data.get("task") or Generation.Task.TEXT, ())
    for field, file_field in CreateForm.PHOTO_FIELDS.items():
        if field not in taken:
            continue
        chosen = request.FILES.get(file_field)
        if file_field in oversized:
            errors[field] = too_large().localized()
            continue
        if chosen is None:
            continue
        try:
            upload = services.store_upload(user=request.user, data=chosen.read())
        except UploadRefused as exc:
            errors[field] = exc.localized()
        except services.UploadsExhausted as exc:
            errors[field] = str(exc)
        else:
            data[field] = str(upload.pk)
    return errors


def _photo_pickers(form):
    """What the page shows for each photo an available task takes: the file input, the id of
    a photo already chosen (a form sent back, or a remix) and that photo, to show it."""
    pickers = []
    for field, file_field in CreateForm.PHOTO_FIELDS.items():
        tasks = [task for task, fields in PHOTOS_OF_TASK.items() if field in fields]
        tasks = [task for task in tasks if task in form.tasks]
        if not tasks:
            continue
        value = form[field].value()
        upload = None
        if value and _uuid_or_none(value):
            upload = selectors.upload_of(form.user, _uuid_or_none(value))
        pickers.append(
            {
                "name": field,
                "file": form[file_field],
                "id": form[field],
                "upload": upload,
                "tasks": " ".join(tasks),
            }
        )
    return pickers


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _remix_initial(request):
    """Form values from ?from=<id> (and &vary=1 for a new seed): one of the user's own."""
    source_id = request.GET.get("from")
    if not source_id:
        return {}
    source = selectors.own_generation_or_none(request.user, source_id)
    if source is None:
        return {}
    vary = bool(request.GET.get("vary"))
    initial = initial_from(source, vary=vary)
    # An edit's instruction goes back to the edit's own words, a garment's to the try-on's.
    initial[CreateForm.WORDS_FIELDS[initial["task"]]] = initial.pop("prompt")
    words = Truncator(source.preset_input if source.preset_id else source.prompt).chars(60)
    if vary:
        seed_note = _("the seed was cleared, so the picture will come out different")
    elif initial.get("seed") is not None:
        seed_note = _("the seed %(seed)s was kept, so the picture comes out the same") % {
            "seed": initial["seed"]
        }
    else:
        seed_note = _("the seed stays random")
    messages.info(
        request,
        _("Copied the prompt, size and settings of “%(prompt)s”; %(seed_note)s.")
        % {"prompt": words, "seed_note": seed_note},
    )
    return initial


def _queued_notice(request, generation, text):
    """The "Queued" message; the live status script removes it once `generation` has ended."""
    messages.success(request, text, extra_tags=f"queued-notice for-g-{generation.pk}")


@login_required
def gallery(request):
    """The user's pictures, newest first, paginated; filter by status, favourites, words.
    A chain of edits is one card (selectors.gallery_cards)."""
    show = request.GET.get("show", "")
    favourites = request.GET.get("favourites") == "1"
    query = request.GET.get("q", "").strip()[:200]
    query_error = None
    try:
        reject_control_characters(query)
    except ValidationError as exc:
        # A NUL would reach the database (PostgreSQL refuses it); say so, search for nothing.
        query_error, query = exc.messages[0], ""
    filters = {"show": show, "favourites": favourites, "query": query}
    page = CountedPaginator(
        selectors.gallery_cards(request.user, **filters),
        GALLERY_PAGE_SIZE,
        count=lambda: selectors.gallery_card_count(request.user, **filters),
    ).get_page(request.GET.get("page"))
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(
        request,
        "imagegen/gallery.html",
        {
            "page": page,
            "show": show,
            "favourites": favourites,
            "query": query,
            "query_error": query_error,
            "filtered": bool(show or favourites or query),
            "keep_query": keep.urlencode(),
            "filters": [
                ("", _("All")),
                ("done", _("Done")),
                ("active", _("In progress")),
                ("failed", _("Failed")),
            ],
        },
    )


@login_required
def detail(request, generation_id):
    generation = get_object_or_404(selectors.detail_of(request.user), pk=generation_id)
    position = selectors.queue_position(generation)
    share_url = None
    if generation.share_token:
        share_url = request.build_absolute_uri(
            reverse("imagegen:shared", args=[generation.share_token])
        )
    return render(
        request,
        "imagegen/detail.html",
        {
            "generation": generation,
            "photos": _photos_of(generation),
            "retention_days": settings.IMAGEGEN_UPLOAD_RETENTION_DAYS,
            "position": position,
            "estimate": selectors.wait_estimate(
                position, selectors.typical_duration_now(generation.tier)
            ),
            "tier_text": _tier_text(generation),
            "share_url": share_url,
            "label_in_files": settings.IMAGEGEN_VISIBLE_LABEL == "files",
            "size_chosen_by_service": _size_chosen_by_service(generation),
            "review_wait": _review_wait_text(generation),
            **chain_views.chain_context(generation),
        },
    )


def _size_chosen_by_service(generation):
    """True while an edit or a try-on waits for a service that chooses its size itself: the
    page says so instead of a size the result may not have."""
    if not (generation.uses_photos and generation.is_active):
        return False
    size = tiers.photo_result_size(
        generation.task,
        generation.width,
        generation.height,
        tier=tiers.tier_of(generation.tier),
        only_provider=generation.only_provider,
    )
    return size is None


def _review_wait_text(generation):
    """ "3 hours": how long reviews of held images usually take, for a held one's owner;
    empty when there is nothing to go by yet."""
    if generation.status != Generation.Status.HELD:
        return ""
    seconds = selectors.typical_review_seconds()
    if seconds is None:
        return ""
    now = timezone.now()
    return timesince(now - datetime.timedelta(seconds=max(60, seconds)), now, depth=1)


def _tier_text(generation):
    """ "Best · 3 units" on a site with a choice of tiers (or once a picture cost more than
    one unit); empty where there is nothing to choose."""
    if not (tiers.choosable() or generation.units != 1):
        return ""
    tier = tiers.tier_named(generation.tier)
    label = tier.label if tier else generation.tier
    units = ngettext("%(units)s unit", "%(units)s units", generation.units) % {
        "units": generation.units
    }
    return f"{label} · {units}"


def _photos_of(generation):
    """[(upload or None once deleted, label)] of the photos an edit or a try-on was made from."""
    labels = {"source_image": _("Your photo"), "garment_image": _("The outfit")}
    if generation.task == Generation.Task.EDIT:
        labels["source_image"] = _("Original photo")
    fields = PHOTOS_OF_TASK[generation.task]
    if chains.edits_a_result(generation):  # its source is a picture of the chain, shown there
        fields = ()
    return [(getattr(generation, field), labels[field]) for field in fields]


@login_required
def status(request, generation_id):
    """JSON for the live status poll."""
    generation = _own_generation(request, generation_id)
    return JsonResponse(presenters.status_payload(generation))


@login_required
def image(request, generation_id):
    """The image, inline (the original: the page labels it) or, with ?download=1, as an
    attachment: the copy with the label burnt in (IMAGEGEN_VISIBLE_LABEL=files), or with
    &original=1 the owner's original without it (its manifest and watermark still there)."""
    generation = own_shown_image(request, generation_id)
    if not request.GET.get("download"):
        return media.send_file(generation.image, content_type=generation.image_content_type)
    field = generation.image if request.GET.get("original") else labelled_file(generation)
    if field is None:
        return media.labelled_copy_missing()
    return media.send_file(
        field,
        content_type=generation.image_content_type,
        download_name=generation.download_name,
    )


@login_required
def upload_image(request, upload_id):
    """One of the user's own uploaded photos (the clean copy): the create and detail pages
    show it. Anyone else's is not found."""
    upload = get_object_or_404(Upload, pk=upload_id, owner=request.user)
    return media.send_file(upload.image, content_type=upload.content_type)


@login_required
def thumbnail(request, generation_id):
    generation = own_shown_image(request, generation_id)
    return media.send_file(generation.thumbnail, content_type="image/webp")


@login_required
@require_POST
def cancel(request, generation_id):
    generation = _own_generation(request, generation_id)
    if services.cancel_generation(generation_id=generation.pk, user=request.user):
        messages.success(request, _("Canceled; your quota was given back."))
    else:
        messages.error(request, _("It has already started, so it can no longer be canceled."))
    return redirect(_back(request, reverse("imagegen:detail", args=[generation.pk])))


@login_required
@require_POST
def retry(request, generation_id):
    """Queue the same request again (a new generation, reserving quota again); back to the
    page it came from (a card's `next`), else to the new generation's page."""
    generation = _own_generation(request, generation_id)
    try:
        again = services.retry_generation(
            generation_id=generation.pk,
            user=request.user,
            origin=presenters.request_origin(request),
        )
    except services.SubmissionRefused as exc:
        messages.error(request, str(exc))
        return redirect(_back(request, reverse("imagegen:detail", args=[generation.pk])))
    _queued_notice(request, again, _("Queued again with the same parameters."))
    return redirect(_back(request, reverse("imagegen:detail", args=[again.pk])))


@login_required
@require_POST
def favourite(request, generation_id):
    generation = _own_generation(request, generation_id)
    services.set_favourite(
        generation_id=generation.pk, user=request.user, favourite=request.POST.get("on") == "1"
    )
    return redirect(_back(request, reverse("imagegen:detail", args=[generation.pk])))


@login_required
def delete(request, generation_id):
    """GET asks for confirmation; POST deletes the generation and its files."""
    generation = _own_generation(request, generation_id)
    if request.method == "POST":
        try:
            services.delete_generation(generation_id=generation.pk, user=request.user)
        except services.GenerationBusy as exc:
            messages.error(request, str(exc))
            return redirect("imagegen:detail", generation_id=generation.pk)
        messages.success(request, _("Deleted, files and all."))
        return redirect("imagegen:gallery")
    return render(request, "imagegen/confirm_delete.html", {"generation": generation})


@login_required
@require_POST
def share(request, generation_id):
    generation = _own_generation(request, generation_id)
    if services.share_generation(generation_id=generation.pk, user=request.user):
        messages.success(
            request, _("Anyone with the link below can now see this image and its prompt.")
        )
    else:
        messages.error(request, _("Only a finished image can be shared."))
    return redirect("imagegen:detail", generation_id=generation.pk)


@login_required
@require_POST
def unshare(request, generation_id):
    generation = _own_generation(request, generation_id)
    services.revoke_share(generation_id=generation.pk, user=request.user)
    messages.success(request, _("The share link is off: it no longer opens anything."))
    return redirect("imagegen:detail", generation_id=generation.pk)


def _back(request, fallback):
    """Where a small action returns to: the page it came from, if it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@staff_member_required
def ops(request):
    """The operations page: the last 14 days as charts (imagegen.ops), for staff."""
    days = ops_data.last_days()
    totals = ops_data.totals(days)
    totals["failed_percent"] = round(100 * totals["failed_share"], 1)
    totals["spent"] = f"{totals['spent']:,.2f}"
    totals["lookbooks"] = ops_data.lookbooks_made(days)
    return render(
        request,
        "imagegen/ops.html",
        {"charts": ops_data.charts(days), "totals": totals, "days": ops_data.DAYS},
    )
