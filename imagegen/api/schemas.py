"""What the JSON API takes and answers, as pydantic models: ninja builds the OpenAPI schema
from them, and the request model refuses wrong JSON types and unknown fields.

Types only: the values' ranges (sizes, steps, guidance, seed) depend on the site's image
provider, so GenerationForm checks them, as it does for the create page.
"""

import datetime
import uuid
from typing import Annotated, Literal

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..forms import CUSTOM, MAX_BATCH
from ..models import Aspect, Generation
from ..selectors import GALLERY_FILTERS

STATUSES = Literal[tuple(Generation.Status.values)]
TASKS = Literal[tuple(Generation.Task.values)]
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
GALLERY_SHOWS = Literal[tuple(GALLERY_FILTERS)]
ASPECTS = Literal[(*Aspect.values, CUSTOM)]
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A cursor is unpadded URL-safe base64 (api.generations.page_cursor) of a JSON list, so it
# starts `WyI` (`["`), and its length is never one more than a multiple of 4 (no base64 is).
CURSOR_PATTERN = r"^WyI[A-Za-z0-9_-](?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
# An absolute address (the API's links are: presenters.link_base).
Url = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
# An absolute address, or "" for none.
UrlOrEmpty = Annotated[
    str,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]}
    ),
]


class GenerationCreate(BaseModel):
    """A request for images; null means "not given"."""

    model_config = ConfigDict(extra="forbid", strict=True, title="GenerationCreate")

    task: TASKS | None = Field(
        None,
        description="text (default): a picture from words; edit: `source_image` changed as the "
        "prompt says; try_on: the person in `source_image` wearing `garment_image`.",
    )
    source_image: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="An upload's id (POST /uploads): the photo to edit, or the person to dress.",
    )
    garment_image: str | None = Field(
        None, pattern=UUID_PATTERN, description="An upload's id: the garment (try_on only)."
    )
    parent: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="Edit again (edit only, in place of `source_image`): the id of a finished "
        "picture of yours to change as the prompt says; it joins that picture's chain.",
    )
    from_original: bool | None = Field(
        None,
        description="With `parent`: true edits the chain's first photo with all the chain's "
        "instructions and this one (when repeated edits drift); default false, the parent.",
    )
    prompt: str | None = Field(
        None,
        description="What to draw (Korean is translated when the site does); for edit, how to "
        "change the photo; for try_on, optional, the garment. Required but for try_on.",
    )
    negative_prompt: str | None = Field(
        None, description="What to leave out; only when the provider takes one."
    )
    preset: int | None = Field(None, description="A travel preset's id (the create page's list).")
    aspect: ASPECTS | None = Field(
        None,
        description="The shape; `custom` takes width and height. Default: the preset's shape, "
        "or custom when width or height is given, else square.",
    )
    width: int | None = Field(None, description="Pixels, with aspect custom (provider's range).")
    height: int | None = Field(None, description="Pixels, with aspect custom (provider's range).")
    seed: int | None = Field(None, description="The same seed gives the same picture again.")
    steps: int | None = Field(None, description="Only when the provider takes steps.")
    guidance: float | None = Field(None, description="Only when the provider takes guidance.")
    translate_prompt: bool | None = Field(
        None, description="false sends Korean words untranslated (default true)."
    )
    include_prompt: bool | None = Field(
        None,
        description="true writes the prompt into the image's content credentials (C2PA), "
        "which anyone who checks the file can read (default false; never the user's name).",
    )
    n: int = Field(
        1, ge=1, le=MAX_BATCH, description="How many images (1–4), quota for all (n × units)."
    )
    tier: str | None = Field(
        None,
        description="The quality tier (GET /tiers): its providers make the image and each "
        "image costs its units. Default: the site's default tier.",
    )
    callback_url: str | None = Field(
        None,
        max_length=2000,
        description="https URL called (signed, Standard Webhooks) when each image ends. "
        "Default: the API key's.",
    )


class GenerationFilters(Schema):
    """The list's query parameters: the gallery's filters, and the page."""

    status: STATUSES | None = Field(None, description="Only those in this exact state.")
    show: GALLERY_SHOWS | None = Field(
        None, description="The gallery's groups: done, active (queued or running), failed."
    )
    favourites: bool = Field(False, description="Only favourites.")
    q: str = Field("", max_length=200, description="Words the prompt contains (all of them).")
    cursor: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=CURSOR_PATTERN,
        description="From the `next` URL (opaque).",
    )
    limit: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")


# The request fields GenerationForm checks the values of (the others are the API's own).
CREATE_FIELDS = (
    "tier",
    "task",
    "source_image",
    "garment_image",
    "parent",
    "from_original",
    "prompt",
    "negative_prompt",
    "preset",
    "aspect",
    "width",
    "height",
    "seed",
    "steps",
    "guidance",
    "include_prompt",
)


class GenerationOut(Schema):
    id: uuid.UUID
    task: TASKS
    source_image: uuid.UUID | None = Field(
        description="The upload edited or dressed; null for text, or once the photo was deleted."
    )
    garment_image: uuid.UUID | None = Field(description="The garment's upload (try_on).")
    parent: uuid.UUID | None = Field(
        description="The picture this edit was made from (edit again); null for none, or once "
        "that picture was deleted (its parent then takes its place)."
    )
    chain_root: uuid.UUID | None = Field(
        description="The first picture of the chain of edits it continues; null for a first."
    )
    from_original: bool = Field(
        description="Made from the chain's first photo with all its instructions."
    )
    status: STATUSES
    tier: str = Field(description="The quality tier it was made in (GET /tiers).")
    units: int = Field(description="Quota units it reserved: its tier's price.")
    status_label: str = Field(description="The status in the reader's language.")
    active: bool = Field(description="Queued or running.")
    position: int | None = Field(description="Place in the queue while queued (1 is next).")
    estimated_seconds: float | None = Field(description="Until done, while queued or running.")
    elapsed_seconds: float | None
    duration_seconds: float | None
    error: str = Field(description="Why it failed, for the user; empty otherwise.")
    notice: str = Field(
        description="Held for review (`held`) or removed after one (`rejected`): what the "
        "owner is told instead of the image; empty otherwise."
    )
    demo: bool = Field(description="Drawn by the offline demo provider.")
    url: Url = Field(description="This generation in the API (what GET answers).")
    detail_url: Url = Field(description="The generation's page on the site.")
    image_url: Url | None = Field(description="The image, once done (follows the key).")
    thumbnail_url: Url | None = Field(description="A WebP thumbnail, once done.")
    share_url: Url | None = Field(description="The public link, while shared.")
    prompt: str
    negative_prompt: str
    prompt_en: str = Field(description="The English sent to the model, when translated.")
    negative_prompt_en: str
    translation_note: str
    translate_prompt: bool
    preset: int | None
    width: int
    height: int
    seed: int | None = Field(description="The seed asked for; null for random.")
    actual_seed: int | None = Field(description="The seed the image was made with.")
    steps: int | None
    guidance: float | None
    provider: str
    model: str
    callback_url: UrlOrEmpty = Field(description="Called when it ends; empty for none.")
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    favourite: bool


class ChainOut(Schema):
    """A picture's chain of edits: where it came from and what was made from it."""

    root: uuid.UUID = Field(description="The chain's first picture.")
    ancestors: list[GenerationOut] = Field(
        description="From the first picture down to this one's parent."
    )
    children: list[GenerationOut] = Field(description="The versions made from this one.")
    branch: list[uuid.UUID] = Field(
        description="The versions this one is on, first to newest end (each time the newest "
        "child): what the detail page's strip shows."
    )
    size: int = Field(description="How many pictures the whole chain has, every branch.")


class GenerationList(Schema):
    results: list[GenerationOut]
    next: Url | None = Field(description="The next page's URL; null on the last page.")


class ShareOut(Schema):
    share_url: Url | None = Field(description="The public link; null once unshared.")


class QuotaOut(Schema):
    """Counted in units: an image costs its tier's units (GET /tiers), 1 on most sites."""

    daily_limit: int
    day_left: int
    monthly_limit: int
    month_left: int
    resets_at: datetime.datetime | None = Field(
        description="When more come, while a limit is reached."
    )


class ErrorDetail(Schema):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, for programs (see the table above).")
    message: str = Field(description="For people.")
    fields: dict[str, list[str]] | None = Field(
        None, description="With `invalid`: each refused field and why."
    )


class ErrorBody(Schema):
    error: ErrorDetail


class PresetOut(Schema):
    id: int = Field(description="What `preset` takes.")
    name: str = Field(description="In the reader's language.")
    description: str
    aspect: ASPECTS = Field(description="The shape it makes unless `aspect` says otherwise.")
    width: int
    height: int


class PresetList(Schema):
    results: list[PresetOut]


class TierOut(Schema):
    """A quality tier `tier` takes: its price and how long it usually takes."""

    name: str = Field(description="What `tier` takes.")
    label: str = Field(description="In the reader's language.")
    units: int = Field(description="Quota units each image costs.")
    tasks: list[TASKS] = Field(description="What it can make.")
    typical_seconds: float = Field(
        description="About how long an image takes once started: the median of recent ones."
    )
    default: bool = Field(description="Used when a request names no tier.")
    available: bool = Field(
        description="false while every provider of the tier is paused (quota, budget): a "
        "request for it is refused with `tier_unavailable` (503) until then."
    )


class TierList(Schema):
    results: list[TierOut]


class SizeRange(Schema):
    minimum: int
    maximum: int
    multiple_of: int = Field(description="Every size is a multiple of this.")


class IntegerRange(Schema):
    minimum: int
    maximum: int


class NumberRange(Schema):
    minimum: float
    maximum: float


class AspectSize(Schema):
    width: int
    height: int


class UploadLimits(Schema):
    """What `POST /uploads` takes: a photo is decided by its bytes, within these limits."""

    max_bytes: int = Field(description="The largest file, in bytes.")
    max_pixels: int = Field(description="The most pixels (width × height) a photo may have.")
    content_types: list[str] = Field(
        description="The kinds of photo taken, by what the bytes are (the name and declared "
        "type are not read)."
    )
    per_day: int = Field(description="Uploads one user may make a day; then 429.")


class CapabilitiesOut(Schema):
    """What `POST /generations` accepts on this site: its image provider's ranges."""

    provider: str = Field(description="The first provider generations go to.")
    tasks: list[TASKS] = Field(description="What `task` may be: what some provider here can do.")
    width: SizeRange
    height: SizeRange
    aspects: dict[str, AspectSize] = Field(description="The pixel size of each `aspect`.")
    negative_prompt: bool = Field(description="Whether `negative_prompt` is taken.")
    seed: IntegerRange | None = Field(description="null: `seed` is not taken.")
    steps: IntegerRange | None = Field(description="null: `steps` is not taken.")
    guidance: NumberRange | None = Field(description="null: `guidance` is not taken.")
    max_prompt_length: int
    max_batch: int = Field(description="The most `n` may be.")
    translation: bool = Field(description="Korean prompts are translated to English.")
    uploads: UploadLimits = Field(description="What `POST /uploads` takes.")


class UploadOut(Schema):
    """A photo you uploaded: what `source_image` and `garment_image` take."""

    id: uuid.UUID
    width: int = Field(description="Pixels, upright.")
    height: int
    content_type: str = Field(description="The stored copy's: image/jpeg, or image/png.")
    created_at: datetime.datetime
    expires_at: datetime.datetime = Field(
        description="When it is deleted: a day after the upload while no generation uses it, "
        "the site's retention after the last that did."
    )
