"""The contract every image provider meets: what it is asked, what it answers, how it fails."""

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext, gettext_noop

from lib.redaction import redact

__all__ = ["redact"]  # providers and services redact through this one function


# What a generation asks for: a picture from words; the user's photo changed by the words; or
# the person in one photo wearing the garment in another (virtual try-on).
TEXT, EDIT, TRY_ON = "text", "edit", "try_on"
TASKS = (TEXT, EDIT, TRY_ON)


@dataclass(frozen=True)
class GenerationRequest:
    """What a provider is asked to draw. The seed is always chosen before the call.

    For `edit`, `source` is the photo to change (the prompt says how); for `try_on`, `source`
    is the person and `garment` the garment (the prompt, maybe empty, describes the garment).
    Both are the stored uploads' bytes: JPEG or PNG, re-encoded, with no metadata at all.
    Width and height are then the size decided at submission: the provider's own fit of the
    photo where it says (ImageProvider.photo_result_size), else the photo's; a service that
    chooses the size itself may answer another, which is then recorded.
    """

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    steps: int | None = None
    guidance: float | None = None
    task: str = TEXT
    source: bytes | None = field(default=None, repr=False)
    garment: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProviderResult:
    """Untrusted image bytes from a provider, with what it says it used."""

    image: bytes
    model: str
    seed: int | None = None
    # Set when the provider's own answer says the image may be unsafe (fal's
    # has_nsfw_concepts): why, for admins. The safety check holds such an image for review.
    provider_flag: str = ""


@dataclass(frozen=True)
class HubRepo:
    """A Hub repository whose card states the licence of a model a provider runs: `model` as
    results name it (ProviderResult.model), `repo` its owner/name, `kind` "model" or "space"."""

    model: str
    repo: str
    kind: str = "model"


@dataclass(frozen=True)
class Capabilities:
    """What a provider accepts; the form offers and validates exactly this.

    `steps` and `guidance` are (lowest, highest) or None when the provider takes no such
    parameter; `default_steps` and `default_guidance` are sent when the user leaves them empty
    and the provider needs a value.
    """

    min_size: int = 256
    max_size: int = 1024
    size_step: int = 64
    negative_prompt: bool = True
    seed: bool = True
    steps: tuple[int, int] | None = (1, 50)
    guidance: tuple[float, float] | None = (0.0, 20.0)
    default_steps: int | None = None
    default_guidance: float | None = None
    # The tasks it can do at all (ImageProvider.tasks() narrows this to what is configured).
    tasks: frozenset[str] = frozenset({TEXT})

    def accepts_size(self, value: int) -> bool:
        return (
            self.min_size <= value <= self.max_size
            and (value - self.min_size) % self.size_step == 0
        )

    def nearest_size(self, value: int) -> int:
        steps = round((value - self.min_size) / self.size_step)
        return min(self.max_size, max(self.min_size, self.min_size + steps * self.size_step))


class ProviderError(Exception):
    """A provider could not serve a request.

    `user_message` is safe to show anyone; `detail` is for admins and logs. Both pass
    `redact` here, so a provider that quotes a server's answer cannot leak the token with it;
    `retryable` says whether asking the same provider again may help, `retry_after` how long
    to wait first when the provider said; `try_next` whether the next configured provider
    should be asked; `cooldown` (seconds) keeps every worker away from this provider for a
    while. `failure_class` names the kind of failure for admins, reports and metrics; `label`
    says it in words, for staff pages (`failure_class_label`).
    """

    failure_class = "unexpected"
    label = gettext_noop("Unexpected error")
    default_user_message = gettext_noop(
        "The image service could not make this image. Please try again."
    )
    default_retryable = False
    default_try_next = True

    def __init__(
        self,
        detail: str,
        *,
        user_message: str | None = None,
        retryable: bool | None = None,
        try_next: bool | None = None,
        retry_after: float | None = None,
        cooldown: float | None = None,
    ) -> None:
        detail = redact(detail)
        super().__init__(detail)
        self.detail = detail
        self.user_message = redact(user_message or self.default_user_message)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.try_next = self.default_try_next if try_next is None else try_next
        self.retry_after = retry_after
        self.cooldown = cooldown


class Misconfigured(ProviderError):
    """Bad or missing token, wrong URL, model not served there: only an operator can fix it."""

    failure_class = "misconfigured"
    label = gettext_noop("Misconfigured (token or settings)")
    default_user_message = gettext_noop(
        "The site's image service is misconfigured. The administrators can see what to fix."
    )


class AccessDenied(ProviderError):
    """The token is valid but may not use this model (a gated repository, HTTP 403)."""

    failure_class = "access_denied"
    label = gettext_noop("Access denied (gated model)")
    default_user_message = Misconfigured.default_user_message


class ModelUnavailable(ProviderError):
    """The model does not exist (404) or was retired (410)."""

    failure_class = "model_unavailable"
    label = gettext_noop("Model not available")
    default_user_message = gettext_noop(
        "The image model this site uses is not available right now."
    )


class OutOfQuota(ProviderError):
    """GPU quota, credits or rate limit used up: the provider cools down, the next one serves."""

    failure_class = "out_of_quota"
    label = gettext_noop("Provider quota used up")
    default_user_message = gettext_noop(
        "The image service has reached its usage limit for now. Please try again later."
    )


class Unavailable(ProviderError):
    """Loading, cold, busy, asleep, unreachable or slow: worth retrying after a pause."""

    failure_class = "unavailable"
    label = gettext_noop("Service down or timed out")
    default_user_message = gettext_noop(
        "The image service is busy or starting up. Please try again shortly."
    )
    default_retryable = True


class BadOutput(ProviderError):
    """The provider answered, but not with an image we can store. No fallback: it is reported."""

    failure_class = "bad_output"
    label = gettext_noop("Unusable result")
    default_user_message = gettext_noop(
        "The image service sent back something that is not a usable image."
    )
    default_try_next = False


class PromptRejected(ProviderError):
    """The provider refused this request (400, content filter): the user must change it."""

    failure_class = "prompt_rejected"
    label = gettext_noop("Prompt refused")
    default_user_message = gettext_noop("The image service refused this prompt. Try rewording it.")
    default_try_next = False


class TaskUnsupported(ProviderError):
    """The provider cannot do this generation's task (an edit, a try-on): the next one may."""

    failure_class = "task_unsupported"
    label = gettext_noop("Task not supported")
    default_user_message = gettext_noop(
        "None of this site's image services can make this kind of picture right now."
    )


FAILURE_CLASSES = {
    cls.failure_class: cls
    for cls in (
        ProviderError,
        Misconfigured,
        AccessDenied,
        ModelUnavailable,
        OutOfQuota,
        Unavailable,
        BadOutput,
        PromptRejected,
        TaskUnsupported,
    )
}


def failure_class_label(name: str) -> str:
    """A failure class in the reader's language with its name after it, as metrics and
    usage_report spell it: "Provider quota used up (out_of_quota)". Unknown: the name."""
    cls = FAILURE_CLASSES.get(name)
    return f"{gettext(cls.label)} ({name})" if cls else name


def adapt(
    request: GenerationRequest, capabilities: Capabilities, name: str
) -> tuple[GenerationRequest, list[str]]:
    """Fit a request to what a provider accepts: (request, notes), or raise Misconfigured.

    Sizes snap to the nearest the provider allows (for text only: an edit or a try-on is the
    size of its photo, which the provider fits itself), steps and guidance are clamped to its
    range or left out when it takes none, each change described in a note that is recorded on
    the generation. A negative prompt is never dropped: a provider without one refuses instead.
    """
    notes = []
    changes = {}
    if request.negative_prompt and not capabilities.negative_prompt:
        raise Misconfigured(
            f"{name} takes no negative prompt, and this request has one.",
            user_message=gettext_noop(
                "This request has a negative prompt the image service cannot use."
            ),
        )
    for attribute in ("width", "height") if request.task == TEXT else ():
        value = getattr(request, attribute)
        fitted = capabilities.nearest_size(value)
        if fitted != value:
            changes[attribute] = fitted
            notes.append(f"{attribute} {value}→{fitted} for {name}")
    for attribute, default in (
        ("steps", capabilities.default_steps),
        ("guidance", capabilities.default_guidance),
    ):
        value = getattr(request, attribute)
        bounds = getattr(capabilities, attribute)
        if value is None:
            # The defaults are the text model's; a photo task's model has its own.
            if bounds and default is not None and request.task == TEXT:
                changes[attribute] = default
            continue
        if bounds is None:
            changes[attribute] = None
            notes.append(f"{attribute} {value} not used: {name} takes none")
            continue
        low, high = bounds
        fitted = min(high, max(low, value))
        if fitted != value:
            changes[attribute] = fitted
            notes.append(f"{attribute} {value}→{fitted} for {name}")
    if not capabilities.seed:
        notes.append(f"seed not used: {name} takes none, so the result is not reproducible")
    return dataclasses.replace(request, **changes), notes


class ImageProvider:
    """Base class: one subclass per way of running a model, named in IMAGEGEN_PROVIDERS.

    Construction must be cheap and must not touch the network: web processes build providers
    to read their capabilities. Costly clients are built on first use and kept per process.
    """

    name = ""
    capabilities = Capabilities()

    def tasks(self) -> frozenset[str]:
        """The tasks it can do as configured (a provider whose settings leave one out says
        so here); the chain skips it for the others, and the form and API offer only tasks
        some configured provider can do. No network."""
        return self.capabilities.tasks

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this provider cannot run in this installation (a missing package), or None."""
        return None

    @property
    def model(self) -> str:
        return ""

    def hub_repos(self) -> list[HubRepo]:
        """The Hub repositories whose cards hold the licences of the models it runs (each
        checked for an owner/name id by the caller). No network."""
        return [HubRepo(self.model, self.model)] if self.model else []

    def cost(self, seconds: float) -> Decimal:
        """Estimated US dollars for one image that took `seconds`; free unless overridden."""
        return Decimal(0)

    @property
    def paid(self) -> bool:
        return self.cost(1) > 0

    def generate(self, request: GenerationRequest) -> ProviderResult:
        raise NotImplementedError

    def photo_result_size(self, task: str, width: int, height: int) -> tuple[int, int] | None:
        """The size it makes an edit or a try-on of a `width`×`height` photo, when it decides
        that itself by a known rule; None when the service it calls chooses (the size is
        known only once the image comes). No network."""
        return None

    def configuration_problems(self) -> list[tuple[str, str]]:
        """What is missing from the settings, as (problem, fix); no network, cheap (/health)."""
        return []

    def check(self) -> list[tuple[str, str]]:
        """Problems an operator must fix before this provider can serve, as (problem, fix).

        May reach the provider over the network (`manage.py imagegen_check`).
        """
        return self.configuration_problems()
