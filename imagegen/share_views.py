"""The pages anyone with a share link sees: the shared image, its file, and the report form.

The link is the key: nothing here needs a log-in, and nothing says whose the image is."""

import datetime

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lib.rate import RateLimit, client_address

from . import media, presenters, services
from .models import Generation, ShareReport
from .services.marks import labelled_file

# The link is the key: keep it out of other sites' logs. Not "no-referrer": with it, browsers
# post this page's forms (report, language) with "Origin: null", which Django's CSRF check
# refuses; "same-origin" sends the origin to us alone.
SHARED_REFERRER_POLICY = "same-origin"


def _shared(token, *, suspended=False):
    """The image shared under `token`; one whose link reports suspended only if asked for."""
    generation = get_object_or_404(
        Generation, share_token=token, status=Generation.Status.SUCCEEDED, share_token__isnull=False
    )
    if generation.share_suspended_at is not None and not suspended:
        raise Http404("suspended")
    return generation


def shared(request, token):
    """A shared image: the picture and its prompt, for anyone with the link, nothing else, and
    a way to report it.

    A link that was turned off, or never existed, gets a page saying so (still a 404): the two
    look the same, so a guessed token learns nothing. A link viewers' reports suspended says
    that it waits for a review (403), never the image.
    """
    try:
        generation = _shared(token, suspended=True)
    except Http404:
        response = render(request, "imagegen/shared_gone.html", status=404)
    else:
        if generation.share_suspended_at is not None:
            response = render(request, "imagegen/shared_suspended.html", status=403)
            response["Referrer-Policy"] = SHARED_REFERRER_POLICY
            return response
        origin = presenters.site_origin(request)
        response = render(
            request,
            "imagegen/shared.html",
            {
                "generation": generation,
                "token": token,
                # Absolute, for the link previews (Open Graph) of chat apps and social sites.
                "page_url": origin + reverse("imagegen:shared", args=[token]),
                "preview_url": origin + reverse("imagegen:shared_image", args=[token]),
                "reasons": ShareReport.Reason.choices,
                "label_in_files": settings.IMAGEGEN_VISIBLE_LABEL == "files",
            },
        )
    response["Referrer-Policy"] = SHARED_REFERRER_POLICY
    return response


def shared_image(request, token):
    """A shared image, inline (the page and link previews) or as a download: with
    IMAGEGEN_VISIBLE_LABEL=files, always the copy with the label burnt in."""
    generation = _shared(token)
    download = generation.download_name if request.GET.get("download") else None
    field = labelled_file(generation)
    if field is None:
        return media.labelled_copy_missing()
    return media.send_file(
        field, content_type=generation.image_content_type, download_name=download
    )


@require_POST
def report_shared(request, token):
    """A viewer reports a shared image, with the reason they chose and then confirmed by
    pressing "Send report" (no log-in needed; the form's CSRF token and a limit per voice).
    One report per voice counts: a signed-in account, else an IPv4 address or IPv6 /48;
    services.report_share says when reports suspend the link."""
    reason = request.POST.get("reason", "")
    if reason not in ShareReport.Reason.values:
        messages.error(request, _("Choose why you are reporting this image."))
        return redirect("imagegen:shared", token=token)
    address = client_address(request, ipv6_prefix=48)
    reporter = request.user if request.user.is_authenticated else None
    refused = RateLimit(
        "report", settings.IMAGEGEN_REPORTS_PER_HOUR, datetime.timedelta(hours=1)
    ).authorize(f"user:{reporter.pk}" if reporter else address)
    if refused:
        response = render(request, "imagegen/shared_gone.html", status=429)
        response["Retry-After"] = str(refused.retry_after_seconds)
        return response
    outcome = services.report_share(token=token, reason=reason, user=reporter, address=address)
    if outcome is None:
        return render(request, "imagegen/shared_gone.html", status=404)
    messages.success(
        request, _("Thank you: the report was sent, and a person will look at this image.")
    )
    return redirect("imagegen:shared", token=token)
