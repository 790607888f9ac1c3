"""Trip lookbook pages (issue 31): "여행 룩북 만들기" (destination, dates, photo, activities,
style), the confirm step with the price, the lookbook (a card per day with live status, "이 날
다시", the packing list with ticks kept, a share link) and its shared page.

The plan between the form and the confirm step is kept in the session (TripDraft.as_data):
nothing is stored or charged until the traveller confirms.
"""

import datetime
import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import presenters, services
from .media import PRIVATE_IMAGE_CACHE
from .models import Generation, Trip, TripDay, Upload
from .services import trip_sheet, trips
from .share_views import SHARED_REFERRER_POLICY
from .trip_presenters import SOURCE_LABELS, day_label
from .trips.conditions import FORECAST, HISTORY, weather_kind
from .trips.dates import InvalidTripDates
from .trips.open_meteo import ATTRIBUTION, ATTRIBUTION_URL, LICENCE_URL
from .uploads import UploadRefused, too_large

DRAFT_SESSION = "travelfit-trip-draft"


class TripForm(forms.Form):
    destination = forms.CharField(
        label=gettext_lazy("Where to?"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("제주, 오사카, Paris")}),
    )
    place_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    start_date = forms.DateField(
        label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    photo = forms.FileField(
        label=gettext_lazy("My photo (optional)"),
        required=False,
        help_text=gettext_lazy("Every day's picture is then you, from this photo."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    source_image = forms.UUIDField(required=False, widget=forms.HiddenInput)
    consent = forms.BooleanField(
        required=False, label=gettext_lazy("This is me, or I have this person's permission.")
    )
    activities = forms.CharField(
        label=gettext_lazy("What you do each day (optional)"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("One line a day, in order: 해변 / 등산, 저녁 식사 / 시내 구경"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    style_note = forms.CharField(
        label=gettext_lazy("Style (optional)"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("편한 캐주얼")}),
    )

    def __init__(self, *args, temperature_dates=(), known=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature_dates = list(temperature_dates)
        known = known or {}
        for date in self.temperature_dates:
            for end, label in (("max", _("Highest °C")), ("min", _("Lowest °C"))):
                self.fields[f"t_{end}_{date.isoformat()}"] = forms.FloatField(
                    label=f"{day_label(date)} · {label}",
                    min_value=-90,
                    max_value=60,
                    initial=known.get((date, end)),
                )

    def clean(self):
        data = super().clean()
        if data.get("source_image") and not data.get("consent"):
            self.add_error(
                "consent",
                _("Tick this to confirm the photo is of you, or that you have permission."),
            )
        return data

    def temperature_fields(self):
        return [
            (self[f"t_max_{date.isoformat()}"], self[f"t_min_{date.isoformat()}"])
            for date in self.temperature_dates
        ]

    def typed_temperatures(self):
        typed = {}
        for date in self.temperature_dates:
            high = self.cleaned_data.get(f"t_max_{date.isoformat()}")
            low = self.cleaned_data.get(f"t_min_{date.isoformat()}")
            if high is not None and low is not None:
                typed[date] = (high, low)
        return typed

    def activities_by_day(self):
        start = self.cleaned_data["start_date"]
        lines = (self.cleaned_data.get("activities") or "").splitlines()
        return {
            start + datetime.timedelta(days=number): [w for w in line.split(",") if w.strip()]
            for number, line in enumerate(lines)
            if line.strip()
        }


def _dates_posted(data):
    """The dates whose temperatures a sent-back form asked for (its t_max_ fields)."""
    found = []
    for name in data:
        if name.startswith("t_max_"):
            try:
                found.append(datetime.date.fromisoformat(name[6:]))
            except ValueError:
                continue
    return sorted(found)[: settings.TRIP_MAX_DAYS]


def _store_photo(request, data):
    """The chosen photo kept as an upload (as the photo studio keeps it): its id in `data`,
    or the message refusing it."""
    if "photo" in getattr(request, "oversized_uploads", set()):
        return too_large().localized()
    chosen = request.FILES.get("photo")
    if chosen is None:
        return None
    try:
        upload = services.store_upload(user=request.user, data=chosen.read())
    except UploadRefused as exc:
        return exc.localized()
    except services.UploadsExhausted as exc:
        return str(exc)
    data["source_image"] = str(upload.pk)
    return None


@login_required
def trip_new(request):
    """ "여행 룩북 만들기": the form; a plan that works goes to the confirm step."""
    candidates = []
    if request.method != "POST":
        form = TripForm()
        return _form_page(request, form, candidates)
    data = request.POST.copy()
    refused_photo = _store_photo(request, data)
    form = TripForm(data, temperature_dates=_dates_posted(data))
    if not form.is_valid() or refused_photo:
        if refused_photo:
            form.add_error("photo", refused_photo)
        return _form_page(request, form, candidates)
    try:
        draft = trips.plan_trip(
            destination=form.cleaned_data["destination"],
            place_id=form.cleaned_data.get("place_id"),
            start_date=form.cleaned_data["start_date"],
            end_date=form.cleaned_data["end_date"],
            activities=form.activities_by_day(),
            style_note=form.cleaned_data.get("style_note") or "",
            temperatures=form.typed_temperatures(),
            language=request.LANGUAGE_CODE,
        )
    except trips.PlaceChoice as choice:
        form.add_error("destination", choice.message)
        candidates = choice.candidates
    except InvalidTripDates as exc:
        form.add_error(exc.field, str(exc.message))
    except trips.NeedTemperatures as need:
        known = {}
        for day in need.known:
            known[(day.date, "max")] = day.temperature_max
            known[(day.date, "min")] = day.temperature_min
        asked = sorted({*need.dates, *(day.date for day in need.known)})
        form = TripForm(data, temperature_dates=asked, known=known)
        form.is_valid()
        # Not an error of the traveller's: the page says why it asks.
        return _form_page(request, form, candidates, asking=True)
    except ValueError as exc:
        form.add_error(None, str(exc))
    else:
        request.session[DRAFT_SESSION] = {
            "draft": draft.as_data(),
            "source_image": form.cleaned_data.get("source_image")
            and str(form.cleaned_data["source_image"]),
        }
        return redirect("imagegen:trip_confirm")
    return _form_page(request, form, candidates)


def _form_page(request, form, candidates, asking=False):
    photo = None
    kept = form["source_image"].value() if form.is_bound else None
    if kept:
        try:
            photo = Upload.objects.filter(pk=uuid.UUID(str(kept)), owner=request.user).first()
        except ValueError:
            photo = None
    return render(
        request,
        "imagegen/trips/new.html",
        {
            "form": form,
            "candidates": candidates,
            "asking": asking,
            "photo": photo,
            "max_days": settings.TRIP_MAX_DAYS,
            "weather_off": settings.TRIP_WEATHER == "off",
            "retention_days": settings.IMAGEGEN_UPLOAD_RETENTION_DAYS,
        },
    )


def _pending(request):
    pending = request.session.get(DRAFT_SESSION)
    if not pending:
        return None, None
    try:
        draft = trips.TripDraft.from_data(pending["draft"])
    except (KeyError, TypeError, ValueError):
        return None, None
    photo = None
    if pending.get("source_image"):
        photo = Upload.objects.filter(pk=pending["source_image"], owner=request.user).first()
    return draft, photo


@login_required
def trip_confirm(request):
    """The plan, day by day, and the price before anything is charged; POST makes it."""
    draft, photo = _pending(request)
    if draft is None:
        return redirect("imagegen:trip_new")
    if request.method == "POST":
        try:
            trip = trips.create_trip(
                user=request.user,
                draft=draft,
                source_image=photo,
                origin=presenters.request_origin(request),
                language=request.LANGUAGE_CODE,
            )
        except services.SubmissionRefused as exc:
            messages.error(request, str(exc))
        else:
            request.session.pop(DRAFT_SESSION, None)
            messages.success(
                request, _("Your lookbook is being made: each day's picture appears below.")
            )
            return redirect("imagegen:trip", trip_id=trip.pk)
    days = [_draft_day(plan) for plan in draft.days]
    return render(
        request,
        "imagegen/trips/confirm.html",
        {
            "draft": draft,
            "days": days,
            "photo": photo,
            "price": trips.price_text(len(days)),
            "packing": [_packing_row(item, ()) for item in draft.packing],
            **_attribution(day["source"] for day in days),
        },
    )


def _outfit_rows(outfit):
    rows = [
        (_("Top"), outfit.top),
        (_("Bottom"), outfit.bottom),
        (_("Outer"), outfit.outer),
        (_("Shoes"), outfit.shoes),
    ]
    rows = [(slot, str(garment)) for slot, garment in rows if garment]
    if outfit.extras:
        rows.append((_("Extras"), " · ".join(str(garment) for garment in outfit.extras)))
    return rows


def _weather_view(weather):
    kind = weather_kind(weather.weather_code)
    return {
        "icon": kind.id if kind else "unknown",  # templates/imagegen/trips/_weather_icon.html
        "kind": str(kind.label) if kind else "",
        "max": round(weather.temperature_max),
        "min": round(weather.temperature_min),
        "rain": weather.precipitation_probability,
        "source": weather.source,
        "source_label": SOURCE_LABELS.get(weather.source, ""),
    }


def _draft_day(plan):
    return {
        "date": plan.date,
        "label": day_label(plan.date),
        "weather": _weather_view(plan.weather),
        "source": plan.weather.source,
        "activities": [str(activity.label) for activity in plan.activities],
        "outfit": _outfit_rows(plan.outfit),
    }


def _caption(trip, card):
    """What a day's picture shows, in the reader's language, for its card and its alt text:
    the picture's prompt is the planner's English, which a Korean page should not show."""
    return _("%(place)s, %(day)s: %(outfit)s") % {
        "place": trip.destination_name,
        "day": card["label"],
        "outfit": ", ".join(garment for _slot, garment in card["outfit"]),
    }


def _packing_row(item, packed):
    return {
        "id": item.garment.id,
        "name": str(item.garment.label),
        "days": ", ".join(formats.date_format(date, "MONTH_DAY_FORMAT") for date in item.dates),
        "count": len(item.dates),
        "packed": item.garment.id in packed,
    }


def _attribution(sources):
    shown = any(source in (FORECAST, HISTORY) for source in sources)
    return {
        "open_meteo": shown,
        "attribution": ATTRIBUTION,
        "attribution_url": ATTRIBUTION_URL,
        "licence_url": LICENCE_URL,
    }


def _own_trip(request, trip_id):
    return get_object_or_404(Trip, pk=trip_id, owner=request.user)


@login_required
def trip_list(request):
    """The traveller's lookbooks, newest first."""
    return render(
        request,
        "imagegen/trips/list.html",
        {"trips": Trip.objects.filter(owner=request.user)[:100]},
    )


@login_required
def trip_page(request, trip_id):
    """The lookbook: a card per day (live status like the gallery's), packing list, sharing."""
    trip = _own_trip(request, trip_id)
    days = list(trip.days.select_related("generation"))
    cards = []
    for day in days:
        plan = trips.day_plan(day)
        card = _draft_day(plan)
        card["generation"] = day.generation
        card["caption"] = _caption(trip, card)
        cards.append(card)
    share_url = (
        request.build_absolute_uri(reverse("imagegen:trip_shared", args=[trip.share_token]))
        if trip.share_token
        else None
    )
    return render(
        request,
        "imagegen/trips/lookbook.html",
        {
            "trip": trip,
            "cards": cards,
            "packing": [_packing_row(item, trip.packed) for item in trips.packing_list_of(days)],
            "share_url": share_url,
            "photo": trip.source_image,
            **_attribution(day.weather_source for day in days),
        },
    )


@login_required
def trip_sheet_download(request, trip_id):
    """The lookbook's one download: its contact sheet, labelled and signed (a JPEG)."""
    trip = _own_trip(request, trip_id)
    try:
        made = trip_sheet.contact_sheet(trip, language=request.LANGUAGE_CODE)
    except trip_sheet.NoPictures:
        messages.error(request, _("The contact sheet comes once a day's picture is finished."))
        return redirect("imagegen:trip", trip_id=trip.pk)
    response = HttpResponse(made.data, content_type=made.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=made.filename
    )
    response["Cache-Control"] = PRIVATE_IMAGE_CACHE
    return response


@login_required
@require_POST
def trip_redo_day(request, trip_id, date):
    """ "이 날 다시": one day's picture made again."""
    trip = _own_trip(request, trip_id)
    try:
        day = datetime.date.fromisoformat(date)
        trips.redo_day(
            user=request.user,
            trip=trip,
            date=day,
            origin=presenters.request_origin(request),
            language=request.LANGUAGE_CODE,
        )
    except (ValueError, TripDay.DoesNotExist):
        raise Http404("no such day") from None
    except services.SubmissionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("That day's picture is being made again."))
    return redirect(reverse("imagegen:trip", args=[trip.pk]) + f"#day-{date}")


@login_required
@require_POST
def trip_packing(request, trip_id):
    """The packing list's ticks, kept."""
    trip = _own_trip(request, trip_id)
    trips.set_packed(trip=trip, garment_ids=request.POST.getlist("packed"))
    messages.success(request, _("Packing list saved."))
    return redirect(reverse("imagegen:trip", args=[trip.pk]) + "#packing")


@login_required
@require_POST
def trip_share(request, trip_id):
    trip = _own_trip(request, trip_id)
    if request.POST.get("off"):
        trips.unshare_trip(trip=trip)
        messages.success(request, _("The share link is off: it no longer opens anything."))
    else:
        trips.share_trip(trip=trip)
        messages.success(
            request, _("Anyone with the link below can now see this lookbook's finished pictures.")
        )
    return redirect(reverse("imagegen:trip", args=[trip.pk]) + "#share")


def trip_shared(request, token):
    """A shared lookbook: each day's weather and outfit, and each picture that may be seen
    (finished, shared, not suspended by viewers' reports); a picture is reported on its own
    shared page, as any shared image."""
    trip = Trip.objects.filter(share_token=token).first()
    if trip is None:
        response = render(request, "imagegen/shared_gone.html", status=404)
        response["Referrer-Policy"] = SHARED_REFERRER_POLICY
        return response
    cards = []
    for day in trip.days.select_related("generation"):
        card = _draft_day(trips.day_plan(day))
        generation = day.generation
        shown = (
            generation is not None
            and generation.status == Generation.Status.SUCCEEDED
            and generation.share_token
            and generation.share_suspended_at is None
        )
        card["token"] = generation.share_token if shown else None
        card["generation"] = generation if shown else None
        card["caption"] = _caption(trip, card)
        cards.append(card)
    response = render(
        request,
        "imagegen/trips/shared.html",
        {
            "trip": trip,
            "cards": cards,
            **_attribution(card["source"] for card in cards),
        },
    )
    response["Referrer-Policy"] = SHARED_REFERRER_POLICY
    return response
