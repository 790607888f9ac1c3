"""The prompt form: what a user may ask for, checked against the first provider's capabilities.

The web page, the JSON API and `manage.py generate` all validate through it, so each says the
same thing about the same bad input.
"""

import unicodedata

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from . import translation
from .models import MAX_SEED, PHOTOS_OF_TASK, Aspect, Generation, Preset
from .providers import available_tasks
from .tiers import aspect_size, default_tier, priced, primary_provider, tier_named, tiers

ALLOWED_CONTROL = {"\n", "\r", "\t"}
CUSTOM = "custom"
# Images one request may ask for, on the page and in the API (quota for all or none).
MAX_BATCH = 4


def reject_control_characters(value):
    """Refuse control characters (NUL included) and unpaired surrogates, which no database
    stores and no model reads; a JSON body can carry both (\\u0000, \\ud800)."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValidationError(
            _(
                "Remove the broken characters (unpaired UTF-16 surrogates): the text is not "
                "valid Unicode."
            ),
            code="surrogates",
        )
    bad = sorted(
        {ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL}
    )
    if bad:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in bad)
        raise ValidationError(
            _("Remove the control characters (%(codes)s); they cannot be part of a prompt."),
            code="control_characters",
            params={"codes": codes},
        )


def size_choices(capabilities):
    sizes = range(capabilities.min_size, capabilities.max_size + 1, capabilities.size_step)
    return [(size, f"{size} px") for size in sizes]


def aspect_of(width, height, capabilities):
    """The aspect whose size is exactly (width, height), or CUSTOM."""
    for aspect in Aspect:
        if aspect_size(aspect, capabilities) == (width, height):
            return aspect.value
    return CUSTOM


class PresetChoice(forms.ModelChoiceField):
    def label_from_instance(self, preset):
        return preset.display_name


PROMPT_NEEDED = {
    Generation.Task.TEXT: _("Write what you want to see: the prompt cannot be empty."),
    Generation.Task.EDIT: _("Say how to change the photo: “me on a beach in Jeju at sunset”."),
}
PHOTO_ID_FIELDS = ("source_image", "garment_image")
# Fields that only a picture from words takes: a photo task is the size of its photo.
TEXT_ONLY_FIELDS = ("preset", "aspect", "width", "height")


class GenerationForm(forms.Form):
    """The task; a preset, the prompt, a negative prompt, a shape; seed, steps and guidance if
    taken; for an edit or a try-on, the user's uploaded photos (by id).

    Sizes come from the aspect (square, portrait, landscape, wide) or, with "custom", from
    width and height; without an aspect a preset's own shape is used. An edit or a try-on is
    the size of its (first) photo. Photos are resolved for `user`: someone else's id is
    "no such photo". The prompt is optional for a try-on (a garment description).
    """

    task = forms.ChoiceField(
        required=False,
        widget=forms.RadioSelect,
        label=_("What to make"),
        choices=Generation.Task.choices,
    )
    # The quality tier; the page shows the choice only when the site has more than one.
    tier = forms.ChoiceField(required=False, widget=forms.RadioSelect, label=_("Quality"))
    source_image = forms.CharField(required=False, widget=forms.HiddenInput)
    # Edit again (issue 32): a finished picture of the user's as the photo, and whether to start
    # from the chain's first photo instead.
    parent = forms.CharField(required=False, widget=forms.HiddenInput)
    from_original = forms.BooleanField(required=False, label=_("From the original"))
    garment_image = forms.CharField(required=False, widget=forms.HiddenInput)

    preset = PresetChoice(
        queryset=Preset.objects.filter(active=True),
        required=False,
        empty_label=_("None: my words as they are"),
        label=_("Travel preset"),
    )
    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": _("Jeju island at sunrise, from a stone wall path")}
        ),
        label=_("Prompt"),
        strip=True,
        required=False,
    )
    negative_prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("blurry, text, watermark")}),
        label=_("Negative prompt"),
        help_text=_("What to leave out of the picture."),
    )
    # Shown only when PROMPT_TRANSLATION is on; ticked, the worker sends the words untranslated.
    send_as_is = forms.BooleanField(
        required=False,
        label=gettext_lazy("Send my words as they are"),
        help_text=gettext_lazy(
            "Korean is translated to English before the image model sees it, because the "
            "models read English only. Tick this to send your words untranslated."
        ),
    )
    # Off by default: the image's content credentials name no prompt unless the owner asks.
    include_prompt = forms.BooleanField(
        required=False,
        label=gettext_lazy("Include my prompt in the image's content credentials"),
        help_text=gettext_lazy(
            "Anyone who checks the file can then read your words. Your name is never in them."
        ),
    )
    aspect = forms.ChoiceField(required=False, widget=forms.RadioSelect, label=_("Shape"))
    width = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Width"))
    height = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Height"))
    n = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=1,
        initial=1,
        choices=[(count, str(count)) for count in range(1, MAX_BATCH + 1)],
        widget=forms.RadioSelect,
        label=_("How many"),
        help_text=_("Each picture costs 1 unit of your quota."),
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SEED,
        label=_("Seed"),
        help_text=_("Leave empty for a random seed; reuse a seed to get the same picture again."),
    )

    SIZE_MISSING = {
        "width": _("Choose a width for a custom size."),
        "height": _("Choose a height for a custom size."),
    }
    SIZE_RANGE = {
        "width": _("Choose a width between %(min)s and %(max)s pixels, in steps of %(step)s."),
        "height": _("Choose a height between %(min)s and %(max)s pixels, in steps of %(step)s."),
    }

    # Fields of free text: each is held to the prompt's length and refuses control characters.
    TEXT_FIELDS = ("prompt", "negative_prompt")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.tasks = available_tasks()
        self.fields["task"].choices = [
            (value, label) for value, label in Generation.Task.choices if value in self.tasks
        ]
        self.fields["task"].initial = Generation.Task.TEXT
        self.fields["tier"].choices = [(tier.name, tier.label) for tier in tiers()]
        self.fields["tier"].initial = default_tier().name
        self.fields["tier"].error_messages["invalid_choice"] = _(
            "Choose one of this site's tiers: %(names)s."
        ) % {"names": ", ".join(tier.name for tier in tiers())}
        if priced():
            self.fields["n"].help_text = _("Each picture costs its tier's units of your quota.")
        self.capabilities = capabilities = primary_provider().capabilities
        max_length = settings.IMAGEGEN_MAX_PROMPT_LENGTH
        for name in self.TEXT_FIELDS:
            field = self.fields[name]
            field.max_length = max_length
            field.widget.attrs["maxlength"] = max_length
            field.validators += [
                MaxLengthValidator(
                    max_length,
                    message=_("Keep it under %(limit_value)d characters (it has %(show_value)d)."),
                ),
                reject_control_characters,
            ]
        self.fields["n"].error_messages["invalid_choice"] = _(
            "Ask for 1 to %(max)s pictures at a time."
        ) % {"max": MAX_BATCH}
        self.aspect_sizes = {aspect.value: aspect_size(aspect, capabilities) for aspect in Aspect}
        self.fields["aspect"].choices = [
            (aspect.value, f"{aspect.label} · {w}×{h}")
            for aspect, (w, h) in zip(Aspect, self.aspect_sizes.values(), strict=True)
        ] + [(CUSTOM, _("Custom size"))]
        self.fields["aspect"].initial = Aspect.SQUARE.value
        choices = size_choices(capabilities)
        default = self.aspect_sizes[Aspect.SQUARE][0]
        for name in ("width", "height"):
            self.fields[name].choices = choices
            self.fields[name].initial = default
            self.fields[name].error_messages["invalid_choice"] = self.SIZE_RANGE[name] % {
                "min": capabilities.min_size,
                "max": capabilities.max_size,
                "step": capabilities.size_step,
            }
        if not capabilities.negative_prompt:
            del self.fields["negative_prompt"]
        if not translation.is_on():
            del self.fields["send_as_is"]
        if not capabilities.seed:
            del self.fields["seed"]
        if capabilities.steps:
            low, high = capabilities.steps
            self.fields["steps"] = forms.IntegerField(
                required=False,
                min_value=low,
                max_value=high,
                label=_("Steps"),
                help_text=_("Empty: the model's default."),
            )
        if capabilities.guidance:
            low, high = capabilities.guidance
            self.fields["guidance"] = forms.FloatField(
                required=False,
                min_value=low,
                max_value=high,
                label=_("Guidance"),
                help_text=_("How closely to follow the prompt. Empty: the model's default."),
            )

    def words_field(self, task):
        """The field that holds the words of `task`: `prompt`, whatever the task (the page's
        form has one per task)."""
        return "prompt"

    def fields_left_out(self, task):
        """Fields sent with the form that `task` leaves out instead of refusing: none here,
        so a request whose parts do not fit its task is refused, naming the field (the API
        documents it). The page's form sends every tab's fields and leaves out the others'."""
        return ()

    def clean(self):
        data = super().clean()
        task = data.get("task") or Generation.Task.TEXT
        data["task"] = task
        for name in self.fields_left_out(task):
            data.pop(name, None)
            self.errors.pop(name, None)
        words = self.words_field(task)
        if words != "prompt":
            data["prompt"] = data.get(words) or ""
        if task in PROMPT_NEEDED and not data.get("prompt") and words not in self.errors:
            self.add_error(words, PROMPT_NEEDED[task])
        for field in PHOTO_ID_FIELDS:
            if data.get(field) and field not in PHOTOS_OF_TASK[task]:
                self.add_error(field, _("This photo has no place in this task: leave it out."))
            data[field] = self._photo(field, data.get(field)) if data.get(field) else None
        if task != Generation.Task.TEXT:
            return self._clean_photo_task(data, task)
        aspect = data.get("aspect") or ""
        preset = data.get("preset")
        if not aspect:
            # No shape chosen (the API, the command): a preset's shape, or the sizes given.
            if preset:
                aspect = preset.aspect
            elif self.data.get("width") or self.data.get("height"):
                aspect = CUSTOM
            else:
                aspect = Aspect.SQUARE.value
        if aspect == CUSTOM:
            for name in ("width", "height"):
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, self.SIZE_MISSING[name])
        else:
            data["width"], data["height"] = self.aspect_sizes[aspect]
        data["aspect"] = aspect
        return data

    def _photo(self, field, upload_id):
        from .services import SubmissionRefused, upload_of

        if self.user is None:
            self.add_error(field, _("Photos need a signed-in user."))
            return None
        try:
            return upload_of(user=self.user, upload_id=upload_id, field=field)
        except SubmissionRefused as exc:
            self.add_error(field, str(exc))
            return None

    def _chain_kwargs(self):
        """An edit again's parent (checked by the service, which names it when refused)."""
        parent = self.cleaned_data.get("parent")
        if not parent:
            return {}
        return {"parent": parent, "from_original": bool(self.cleaned_data.get("from_original"))}

    def _clean_photo_task(self, data, task):
        """An edit or a try-on: its photos are there (or, for an edit again, its parent), and
        nothing of the text task's shape."""
        from .services.generations import PHOTO_NEEDED

        for field in PHOTO_ID_FIELDS:
            if data.get("parent") and field == "source_image":
                continue  # the parent is the photo; the service refuses one sent as well
            if field in PHOTOS_OF_TASK[task] and not data[field] and field not in self.errors:
                self.add_error(field, PHOTO_NEEDED[field])
        source = data.get("source_image")
        if source is not None:
            data["width"], data["height"] = source.width, source.height
        data["preset"] = None
        return data

    def generation_kwargs(self):
        """The cleaned values as keyword arguments for services.submit_generation."""
        data = self.cleaned_data
        task = data["task"]
        if task != Generation.Task.TEXT:
            return {
                **self._chain_kwargs(),
                "tier": data.get("tier") or "",
                "task": task,
                "source_image": data["source_image"],
                "garment_image": data["garment_image"],
                "prompt": data.get("prompt") or "",
                "negative_prompt": data.get("negative_prompt") or "",
                "width": data["width"],
                "height": data["height"],
                "seed": data.get("seed"),
                "steps": data.get("steps"),
                "guidance": data.get("guidance"),
                "translate_prompt": not data.get("send_as_is"),
                "include_prompt": bool(data.get("include_prompt")),
            }
        preset = data.get("preset")
        text = data["prompt"]
        negative = data.get("negative_prompt") or ""
        if preset:
            negative = ", ".join(part for part in (preset.negative_prompt, negative) if part)
        return {
            "tier": data.get("tier") or "",
            "prompt": preset.apply(text) if preset else text,
            "negative_prompt": negative,
            "width": data["width"],
            "height": data["height"],
            "seed": data.get("seed"),
            "steps": data.get("steps"),
            "guidance": data.get("guidance"),
            "preset": preset,
            "preset_input": text if preset else "",
            "translate_prompt": not data.get("send_as_is"),
            "include_prompt": bool(data.get("include_prompt")),
            "task": task,
        }


def initial_from(generation, *, vary=False):
    """Form values that ask for `generation` again: a remix, or with vary a new seed."""
    capabilities = primary_provider().capabilities
    initial = {
        # The same tier while the site still has it; else the form's default.
        "tier": generation.tier if tier_named(generation.tier) else default_tier().name,
        "task": generation.task,
        "source_image": generation.source_image_id or "",
        "garment_image": generation.garment_image_id or "",
        "preset": generation.preset_id,
        "prompt": generation.preset_input if generation.preset_id else generation.prompt,
        "negative_prompt": _own_negative(generation),
        "aspect": aspect_of(generation.width, generation.height, capabilities),
        "width": generation.width,
        "height": generation.height,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "send_as_is": not generation.translate_prompt,
        "include_prompt": generation.include_prompt,
    }
    if not vary:
        initial["seed"] = (
            generation.actual_seed if generation.actual_seed is not None else generation.seed
        )
    return initial


def _own_negative(generation):
    """The user's part of the negative prompt, without what the preset added."""
    negative = generation.negative_prompt
    if generation.preset and generation.preset.negative_prompt:
        preset_part = generation.preset.negative_prompt
        if negative == preset_part:
            return ""
        if negative.startswith(preset_part + ", "):
            return negative[len(preset_part) + 2 :]
    return negative


class CreateForm(GenerationForm):
    """The create page's form: GenerationForm, plus the photo pickers, the consent tick and
    words of its own for each task.

    The page sends every tab's fields whichever task is chosen, so a field the chosen task
    does not take is left out, never refused; and each task keeps its own words (`prompt`,
    `edit_prompt`, `try_on_prompt`): an edit's instruction never becomes a garment's
    description. The view stores chosen photos first (services.store_upload) and puts their
    ids in `source_image` / `garment_image`, so a form sent back with a mistake keeps its
    photos; `refused_photos` ({field: message}) are the photos it could not keep, each said
    instead of "choose a photo".
    """

    edit_prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": _("me on a beach in Jeju at sunset")}
        ),
        label=_("How to change the photo"),
    )
    try_on_prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("a beige linen coat")}),
        label=_("The outfit in words (optional)"),
    )
    source_photo = forms.FileField(
        required=False,
        label=_("Your photo"),
        widget=forms.FileInput(attrs={"accept": "image/*", "class": "photo-input"}),
        help_text=_("JPEG, PNG, WebP or HEIC. It is kept privately, without its location data."),
    )
    garment_photo = forms.FileField(
        required=False,
        label=_("The outfit"),
        widget=forms.FileInput(attrs={"accept": "image/*", "class": "photo-input"}),
        help_text=_("A photo of the garment on its own, flat or on a hanger."),
    )
    consent = forms.BooleanField(
        required=False, label=_("This is me, or I have this person's permission.")
    )

    TEXT_FIELDS = (*GenerationForm.TEXT_FIELDS, "edit_prompt", "try_on_prompt")
    PHOTO_FIELDS = {"source_image": "source_photo", "garment_image": "garment_photo"}
    WORDS_FIELDS = {
        Generation.Task.TEXT: "prompt",
        Generation.Task.EDIT: "edit_prompt",
        Generation.Task.TRY_ON: "try_on_prompt",
    }
    # What each task does not take, of what the page sends: the other tasks' words and
    # photos, and a picture from words' preset and shape (a photo task is its photo's shape).
    LEFT_OUT = {
        Generation.Task.TEXT: ("edit_prompt", "try_on_prompt", *PHOTO_ID_FIELDS, "consent"),
        Generation.Task.EDIT: (
            "prompt",
            "try_on_prompt",
            "garment_image",
            *TEXT_ONLY_FIELDS,
        ),
        Generation.Task.TRY_ON: (
            "prompt",
            "edit_prompt",
            "negative_prompt",
            *TEXT_ONLY_FIELDS,
        ),
    }

    def __init__(self, *args, refused_photos=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.refused_photos = refused_photos or {}

    def words_field(self, task):
        return self.WORDS_FIELDS[task]

    def fields_left_out(self, task):
        return self.LEFT_OUT[task]

    def clean(self):
        # A photo that could not be kept is the one thing to say about its field.
        for field, message in self.refused_photos.items():
            self.add_error(field, message)
        data = super().clean()
        if data["task"] != Generation.Task.TEXT and not data.get("consent"):
            self.add_error(
                "consent",
                _("Tick this to confirm the photo is of you, or that you have permission."),
            )
        return data
