"""The prompt form: what a user may ask for, checked against the first provider's capabilities."""

import unicodedata

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator

from .models import MAX_SEED
from .providers import primary_provider

ALLOWED_CONTROL = {"\n", "\r", "\t"}


def reject_control_characters(value):
    bad = sorted(
        {ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL}
    )
    if bad:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in bad)
        raise ValidationError(
            f"Remove the control characters ({codes}); they cannot be part of a prompt.",
            code="control_characters",
        )


def size_choices(capabilities):
    sizes = range(capabilities.min_size, capabilities.max_size + 1, capabilities.size_step)
    return [(size, f"{size} px") for size in sizes]


class GenerationForm(forms.Form):
    """Prompt, negative prompt, size and seed; steps and guidance where the provider takes them."""

    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "A postcard of Jeju island at sunrise"}
        ),
        strip=True,
        error_messages={
            "required": "Write what you want to see: the prompt cannot be empty or only spaces."
        },
    )
    negative_prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "blurry, text, watermark"}),
        help_text="What to leave out of the picture.",
    )
    width = forms.TypedChoiceField(coerce=int)
    height = forms.TypedChoiceField(coerce=int)
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SEED,
        help_text="Leave empty for a random seed; reuse a seed to get the same picture again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capabilities = capabilities = primary_provider().capabilities
        max_length = settings.IMAGEGEN_MAX_PROMPT_LENGTH
        for name in ("prompt", "negative_prompt"):
            field = self.fields[name]
            field.max_length = max_length
            field.widget.attrs["maxlength"] = max_length
            field.validators += [
                MaxLengthValidator(
                    max_length,
                    message=f"Keep it under {max_length} characters (it has %(show_value)d).",
                ),
                reject_control_characters,
            ]
        choices = size_choices(capabilities)
        default = min(max(512, capabilities.min_size), capabilities.max_size)
        for name in ("width", "height"):
            self.fields[name].choices = choices
            self.fields[name].initial = default
            self.fields[name].error_messages["invalid_choice"] = (
                f"Choose a {name} between {capabilities.min_size} and {capabilities.max_size} "
                f"pixels, in steps of {capabilities.size_step}."
            )
        if not capabilities.negative_prompt:
            del self.fields["negative_prompt"]
        if not capabilities.seed:
            del self.fields["seed"]
        if capabilities.steps:
            low, high = capabilities.steps
            self.fields["steps"] = forms.IntegerField(
                required=False,
                min_value=low,
                max_value=high,
                help_text="Empty: the model's default.",
            )
        if capabilities.guidance:
            low, high = capabilities.guidance
            self.fields["guidance"] = forms.FloatField(
                required=False,
                min_value=low,
                max_value=high,
                help_text="How closely to follow the prompt. Empty: the model's default.",
            )

    def generation_kwargs(self):
        """The cleaned values as keyword arguments for services.submit_generation."""
        data = self.cleaned_data
        return {
            "prompt": data["prompt"],
            "negative_prompt": data.get("negative_prompt") or "",
            "width": data["width"],
            "height": data["height"],
            "seed": data.get("seed"),
            "steps": data.get("steps"),
            "guidance": data.get("guidance"),
        }
