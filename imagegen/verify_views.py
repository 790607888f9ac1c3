"""Pages about the marks, open to everyone: /verify (drop in any image, learn whether it
carries this site's content credentials and watermark) and /terms (what the marks are, and that
they may not be removed)."""

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _

from lib.rate import client_address

from .services.verification import VerifyThrottled, verify_upload
from .uploads import UploadRefused, too_large


def verify(request):
    """GET: the form. POST (multipart `file`): what the image's marks say; its owner, signed
    in, also gets the link to the generation. 400 for a file that is not an image we read,
    429 over the address's hourly limit."""
    context = {"per_hour": settings.IMAGEGEN_VERIFY_PER_HOUR}
    status = 200
    if request.method == "POST":
        chosen = request.FILES.get("file")
        try:
            if "file" in getattr(request, "oversized_uploads", set()):
                raise too_large()
            if chosen is None:
                context["error"] = _("Choose an image to check.")
                status = 400
            else:
                context["verified"] = verify_upload(
                    chosen.read(),
                    user=request.user,
                    address=client_address(request, ipv6_prefix=48),
                )
        except UploadRefused as exc:
            context["error"] = exc.localized()
            status = 400
        except VerifyThrottled:
            context["error"] = _("This address has checked many images this hour; try again later.")
            status = 429
    return render(request, "imagegen/verify.html", context, status=status)


def terms(request):
    """The short terms: images are made by generative AI, marked three ways, and the marks may
    not be removed."""
    return render(
        request,
        "imagegen/terms.html",
        {"label_in_files": settings.IMAGEGEN_VISIBLE_LABEL == "files"},
    )
