"""What the API's published OpenAPI schema says beyond what ninja builds from the operations
and their pydantic models: read once per schema, from this site's settings.

- `create_body`: the create request as a union by `task` (`oneOf`, with a `discriminator`):
  a text request needs a prompt, an edit its photo and a prompt, a try-on its two photos and
  no prompt; `tier` and `preset` list this site's tiers and presets.
- `document_headers`: the request header X-Request-ID on every operation, and on each answer
  the headers it carries (X-Request-ID, RateLimit and RateLimit-Policy, Content-Language;
  Retry-After, Location, WWW-Authenticate, Idempotent-Replayed where they are sent).
- `add_examples`: an example of every request body and JSON answer.
- `webhooks`: OpenAPI 3.1's `webhooks`, one per event type, with the signature headers.

Examples are checked against the schema they illustrate (tests/test_api_schema.py).
"""

import copy

from django.urls import reverse
from django.utils import translation

from lib import request_id

from .. import ratelimit, tiers
from ..models import Generation, Preset
from ..safety import HELD_MESSAGE, REJECTED_MESSAGE

# --- The create body, one branch per task ---------------------------------------------------

# The fields every task takes; the others belong to some tasks only.
COMMON_FIELDS = (
    "negative_prompt",
    "seed",
    "steps",
    "guidance",
    "translate_prompt",
    "n",
    "tier",
    "callback_url",
)
TASK_FIELDS = {
    Generation.Task.TEXT: ("task", "prompt", "preset", "aspect", "width", "height"),
    Generation.Task.EDIT: ("task", "source_image", "parent", "from_original", "prompt"),
    Generation.Task.TRY_ON: ("task", "source_image", "garment_image", "prompt"),
}
TASK_REQUIRED = {
    Generation.Task.TEXT: ["prompt"],
    Generation.Task.EDIT: ["task", "prompt"],
    Generation.Task.TRY_ON: ["task", "source_image", "garment_image"],
}
TASK_SCHEMAS = {
    Generation.Task.TEXT: "GenerationCreateText",
    Generation.Task.EDIT: "GenerationCreateEdit",
    Generation.Task.TRY_ON: "GenerationCreateTryOn",
}
TASK_TITLES = {
    Generation.Task.TEXT: "A picture from words (`task` text, or left out): `prompt` needed.",
    Generation.Task.EDIT: "Your photo (`source_image`), or a finished picture of yours "
    "(`parent`: edit again), changed as the prompt says; one of the two, and `prompt`.",
    Generation.Task.TRY_ON: "The person in `source_image` wearing `garment_image`; the prompt, "
    "optional, describes the garment.",
}


def _non_null(prop):
    """The non-null branch of a nullable property (`anyOf: [{…}, {"type": "null"}]`)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            return branch
    return prop


def _required_text(prop):
    """A nullable text property as one that must be given: its non-null branch alone."""
    kept = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
    return {**kept, **_non_null(prop)}


def fit_choices(properties):
    """`tier` and `preset` hold only what this site has: its tiers' names, its presets' ids."""
    names = [tier.name for tier in tiers.tiers()]
    _non_null(properties["tier"])["enum"] = names
    presets = list(Preset.objects.filter(active=True).values_list("pk", flat=True))
    if presets:
        _non_null(properties["preset"])["enum"] = presets
    else:
        # No presets on this site: only null ("not given") is taken.
        description = properties["preset"].get("description", "")
        properties["preset"] = {"type": "null", "description": description}


def create_body(flat, tasks):
    """The create body as `oneOf` one schema per task this site can do, with their
    components: `flat` is GenerationCreate's schema, already fitted to the site's provider."""
    properties = flat["properties"]
    components, branches, mapping = {}, [], {}
    for task in tasks:
        names = [name for name in (*TASK_FIELDS[task], *COMMON_FIELDS) if name in properties]
        branch = {name: copy.deepcopy(properties[name]) for name in names}
        if task == Generation.Task.TEXT:
            branch["task"] = {
                "anyOf": [{"type": "string", "enum": ["text"]}, {"type": "null"}],
                "description": "text, or left out: a picture from words.",
            }
        else:
            branch["task"] = {"type": "string", "const": task, "description": TASK_TITLES[task]}
        for name in TASK_REQUIRED[task]:
            if name != "task":
                branch[name] = _required_text(branch[name])
        name = TASK_SCHEMAS[task]
        components[name] = {
            "type": "object",
            "title": name,
            "description": TASK_TITLES[task],
            "properties": branch,
            "required": TASK_REQUIRED[task],
            "additionalProperties": False,
        }
        if task == Generation.Task.EDIT:  # the photo, or a picture of yours to edit again
            components[name]["oneOf"] = [{"required": ["source_image"]}, {"required": ["parent"]}]
        reference = f"#/components/schemas/{name}"
        branches.append({"$ref": reference})
        mapping[task] = reference
    schema = {
        "oneOf": branches,
        # Without `task` a request is `text`, which its branch says.
        "discriminator": {"propertyName": "task", "mapping": mapping},
        "description": flat.get("description", ""),
    }
    return schema, components


# --- Headers ---------------------------------------------------------------------------------

REQUEST_ID_PARAMETER = {
    "name": request_id.HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": f"^{request_id.ACCEPTED.pattern}$"},
    "description": "Your id for this request, kept when it is 1–100 letters, digits and "
    "`._:@-` (else a new one is made): the answer's X-Request-ID, the id in the site's logs "
    "and in the webhooks of the generations it makes.",
    "example": "checkout-7f3a91",
}
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
HEADERS = {
    "X-Request-ID": (
        "This request's id (yours, or one made for it): quote it when asking about an "
        "answer; the generation's webhooks carry it too.",
        {"type": "string"},
    ),
    "RateLimit": (
        "What is left of this key's minute (IETF draft httpapi-ratelimit-headers): "
        '`"key";r=<requests left>;t=<seconds until the minute ends>`. Sent to API keys '
        "while the site has a limit (API_RATE_LIMIT).",
        {"type": "string", "pattern": '^"key";r=[0-9]+;t=[0-9]+$'},
    ),
    "RateLimit-Policy": (
        'This key\'s quota: `"key";q=<requests>;w=60` (a minute). Sent with RateLimit.',
        {"type": "string", "pattern": '^"key";q=[0-9]+;w=[0-9]+$'},
    ),
    "Content-Language": ("The language of the texts in the body: en or ko.", {"type": "string"}),
    "Retry-After": ("Seconds to wait before trying again.", _DIGITS),
    "Location": ("The address of what was made.", {"type": "string", "format": "uri"}),
    "WWW-Authenticate": ("How to authenticate: a Bearer API key.", {"type": "string"}),
    "Idempotent-Replayed": (
        "`true`: this is the first answer to this Idempotency-Key again; nothing was done twice.",
        {"type": "string", "enum": ["true"]},
    ),
}
HEADER_EXAMPLES = {
    "X-Request-ID": "9c1f0e2d4b8a4f6e8d7c6b5a49382716",
    "RateLimit": f'"{ratelimit.POLICY}";r=117;t=42',
    "RateLimit-Policy": f'"{ratelimit.POLICY}";q=120;w=60',
    "Content-Language": "en",
    "Retry-After": "30",
    "WWW-Authenticate": 'Bearer realm="api"',
    "Idempotent-Replayed": "true",
}


def _header(name, *, required):
    description, schema = HEADERS[name]
    header = {"description": description, "required": required, "schema": dict(schema)}
    if name in HEADER_EXAMPLES:
        header["example"] = HEADER_EXAMPLES[name]
    return header


def _headers_of(status, operation, *, idempotent):
    """The headers an answer with `status` to `operation` carries: (name, required)."""
    sent = [("X-Request-ID", True), ("Content-Language", False)]
    sent += [("RateLimit", False), ("RateLimit-Policy", False)]
    if status == 401:
        sent.append(("WWW-Authenticate", True))
    if status == 429:
        sent.append(("Retry-After", True))
    if status == 503 or (status == 409 and idempotent):
        # 503: a database outage says when; 409: a repeat while the first is being answered.
        sent.append(("Retry-After", False))
    if status == 302:
        sent.append(("Location", True))
    if status == 201:
        # Several generations at once have no one address.
        sent.append(("Location", operation["operationId"] != "create_generation"))
    if idempotent and status < 500 and status != 429:
        sent.append(("Idempotent-Replayed", False))
    return sent


def document_headers(schema):
    """X-Request-ID as a request header of every operation, and each answer's headers."""
    for methods in schema["paths"].values():
        for operation in methods.values():
            parameters = operation.setdefault("parameters", [])
            idempotent = any(p["name"] == "Idempotency-Key" for p in parameters)
            parameters.append(copy.deepcopy(REQUEST_ID_PARAMETER))
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                for name, required in _headers_of(int(status), operation, idempotent=idempotent):
                    headers[name] = _header(name, required=required)


# --- Examples ------------------------------------------------------------------------------

EXAMPLE_ORIGIN = "https://travelfit.example"
EXAMPLE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
EXAMPLE_PHOTO = "0b6e9a52-7d41-4c8e-9f3a-5e2d1c0b9a87"
EXAMPLE_GARMENT = "c3a8f1d0-2e4b-4f6a-8b9c-1d2e3f4a5b6c"
EXAMPLE_CALLBACK = "https://example.com/travelfit-hook"
CREATE_EXAMPLES = {
    "text": {
        "summary": "Four pictures from words, with a callback",
        "value": {
            "prompt": "Jeju island at sunrise, from a stone wall path",
            "aspect": "wide",
            "n": 4,
            "callback_url": EXAMPLE_CALLBACK,
        },
    },
    "edit": {
        "summary": "Edit your photo",
        "value": {
            "task": "edit",
            "source_image": EXAMPLE_PHOTO,
            "prompt": "me on a beach in Jeju at sunset",
        },
    },
    "edit_again": {
        "summary": "Edit one of your pictures again",
        "value": {"task": "edit", "parent": EXAMPLE_ID, "prompt": "make the jacket red"},
    },
    "try_on": {
        "summary": "Try an outfit on",
        "value": {
            "task": "try_on",
            "source_image": EXAMPLE_PHOTO,
            "garment_image": EXAMPLE_GARMENT,
        },
    },
}


def generation_example(status="succeeded"):
    """A generation as the API shows one (an example with this site's addresses)."""

    def api_url(name):
        return EXAMPLE_ORIGIN + reverse(name, args=[EXAMPLE_ID])

    done = status == "succeeded"
    ended = status not in Generation.ACTIVE
    with translation.override("en"):
        label = str(dict(Generation.Status.choices)[status])
        notice = {"held": HELD_MESSAGE, "rejected": REJECTED_MESSAGE}.get(status, "")
        notice = str(notice)
    return {
        "id": EXAMPLE_ID,
        "task": "text",
        "source_image": None,
        "garment_image": None,
        "parent": None,
        "chain_root": None,
        "from_original": False,
        "status": status,
        "tier": "standard",
        "units": 1,
        "status_label": label,
        "active": status in Generation.ACTIVE,
        "position": 1 if status == "queued" else None,
        "estimated_seconds": 9.5 if status == "queued" else None,
        "elapsed_seconds": 8.4 if ended else None,
        "duration_seconds": 8.4 if ended else None,
        "error": "The image service refused this prompt." if status == "failed" else "",
        "notice": notice,
        "demo": False,
        "url": api_url("api:generation"),
        "detail_url": api_url("imagegen:detail"),
        "image_url": api_url("api:image") if done else None,
        "thumbnail_url": api_url("api:thumbnail") if done else None,
        "share_url": None,
        "prompt": "Jeju island at sunrise, from a stone wall path",
        "negative_prompt": "",
        "prompt_en": "",
        "negative_prompt_en": "",
        "translation_note": "",
        "translate_prompt": True,
        "preset": None,
        "width": 1024,
        "height": 576,
        "seed": None,
        "actual_seed": 1844674 if done else None,
        "steps": None,
        "guidance": None,
        "provider": "hf_inference" if done else "",
        "model": "stabilityai/stable-diffusion-3-medium" if done else "",
        "callback_url": EXAMPLE_CALLBACK,
        "created_at": "2026-05-01T09:30:00.000Z",
        "finished_at": "2026-05-01T09:30:09.120Z" if ended else None,
        "favourite": False,
    }


# Examples of the answers that do not depend on a generation (their values are made up).
FIXED_ANSWER_EXAMPLES = {
    "QuotaOut": {
        "daily_limit": 20,
        "day_left": 16,
        "monthly_limit": 300,
        "month_left": 212,
        "resets_at": None,
    },
    "UploadOut": {
        "id": EXAMPLE_PHOTO,
        "width": 3024,
        "height": 4032,
        "content_type": "image/jpeg",
        "created_at": "2026-05-01T09:29:40.000Z",
        "expires_at": "2026-05-02T09:29:40.000Z",
    },
    "PresetList": {
        "results": [
            {
                "id": 1,
                "name": "Jeju coast",
                "description": "Black rock, blue sea, a stone wall path.",
                "aspect": "wide",
                "width": 1024,
                "height": 576,
            }
        ]
    },
    "TierList": {
        "results": [
            {
                "name": "fast",
                "label": "Fast",
                "units": 1,
                "tasks": ["text", "edit"],
                "typical_seconds": 8.4,
                "default": True,
                "available": True,
            },
            {
                "name": "best",
                "label": "Best quality",
                "units": 3,
                "tasks": ["text"],
                "typical_seconds": 31.0,
                "default": False,
                "available": True,
            },
        ]
    },
    "CapabilitiesOut": {
        "provider": "hf_inference",
        "tasks": ["text", "edit"],
        "width": {"minimum": 256, "maximum": 1024, "multiple_of": 64},
        "height": {"minimum": 256, "maximum": 1024, "multiple_of": 64},
        "aspects": {
            "square": {"width": 1024, "height": 1024},
            "portrait": {"width": 768, "height": 1024},
            "landscape": {"width": 1024, "height": 768},
            "wide": {"width": 1024, "height": 576},
        },
        "negative_prompt": True,
        "seed": {"minimum": 0, "maximum": 2147483647},
        "steps": {"minimum": 1, "maximum": 50},
        "guidance": {"minimum": 0.0, "maximum": 20.0},
        "max_prompt_length": 1000,
        "max_batch": 4,
        "translation": True,
        "uploads": {
            "max_bytes": 15728640,
            "max_pixels": 40000000,
            "content_types": [
                "image/jpeg",
                "image/png",
                "image/webp",
                "image/heic",
                "image/heif",
            ],
            "per_day": 50,
        },
    },
}


def _chain_example(first):
    """A chain: the example's picture, edited once (the version asked for), then twice."""
    version, later = "2b1f6c3e-8d4a-4e7b-9c1d-3f5a6b7c8d9e", "8e7d6c5b-4a39-4281-a0b1-c2d3e4f5a6b7"
    asked = {**first, "id": version, "task": "edit", "prompt": "remove the tourists"}
    asked.update(parent=first["id"], chain_root=first["id"])
    child = {**asked, "id": later, "prompt": "make the jacket red", "parent": version}
    return {
        "root": first["id"],
        "ancestors": [first],
        "children": [child],
        "branch": [first["id"], version, later],
        "size": 3,
    }


def _answer_examples():
    """An example of each JSON answer, by the component its schema names."""
    generation = generation_example()
    listing = EXAMPLE_ORIGIN + reverse("api:generations")
    return {
        "GenerationOut": generation,
        "GenerationList": {
            "results": [generation],
            "next": f"{listing}?limit=1&cursor=WyIyMDI2LTA1LTAxVDA5OjMwOjAwKzAwOjAwIiwgIjZmIl0",
        },
        "ChainOut": _chain_example(generation),
        "ShareOut": {"share_url": EXAMPLE_ORIGIN + "/s/Xq3vN9bK2mTz7Lp0sW4yHc/"},
        **copy.deepcopy(FIXED_ANSWER_EXAMPLES),
    }


# An example error for each status the API answers with.
ERROR_EXAMPLES = {
    400: {
        "code": "invalid",
        "message": "Some fields are not valid; see `fields`.",
        "fields": {"n": ["Send a value less than or equal to 4."]},
    },
    401: {
        "code": "unauthenticated",
        "message": "This API key is not valid; it may have been revoked.",
    },
    403: {
        "code": "csrf_failed",
        "message": "The CSRF check failed: send the csrftoken cookie's value in an "
        "X-CSRFToken header, or use an API key instead of the session.",
    },
    404: {"code": "not_found", "message": "Nothing of yours is at this address."},
    409: {
        "code": "conflict",
        "message": "It is “Done” already, so it can no longer be canceled.",
        "status": "succeeded",
    },
    415: {
        "code": "unsupported_media_type",
        "message": "Send the body as JSON, with `Content-Type: application/json`.",
    },
    429: {
        "code": "rate_limited",
        "message": "Too many requests with this key: at most 120 a minute. Try again in 42 s.",
        "retry_after": 42,
    },
    503: {
        "code": "tier_unavailable",
        "message": "Every service of “Best quality” is paused right now; nothing was charged.",
        "suggested_tier": "fast",
    },
}


def add_examples(schema):
    """An example on the create body and on every JSON answer."""
    create = schema["paths"]["/api/v1/generations"]["post"]["requestBody"]
    create["content"]["application/json"]["examples"] = copy.deepcopy(CREATE_EXAMPLES)
    answers = _answer_examples()
    for methods in schema["paths"].values():
        for operation in methods.values():
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json")
                if media is None:
                    continue
                component = media.get("schema", {}).get("$ref", "").rpartition("/")[2]
                if component == "ErrorBody" and int(status) in ERROR_EXAMPLES:
                    media["example"] = {"error": ERROR_EXAMPLES[int(status)]}
                elif component in answers:
                    media["example"] = answers[component]


# --- Webhooks ------------------------------------------------------------------------------

EVENTS = {
    "generation.succeeded": "It is done: `data.image_url` is the image (send your key).",
    "generation.failed": "It failed: `data.error` says why; its quota came back.",
    "generation.canceled": "It was canceled while queued; its quota came back.",
    "generation.held": "The site's safety check held it for a person's review; the outcome "
    "follows as `generation.succeeded` or `generation.rejected`.",
    "generation.rejected": "A review removed it: no image; `data.notice` says so.",
}
WEBHOOK_HEADERS = (
    (
        "webhook-id",
        "The event's id, the same on every attempt: drop repeats.",
        {"type": "string", "pattern": "^msg_[0-9a-f]{32}(_[a-z]+)?$"},
    ),
    (
        "webhook-timestamp",
        "This attempt's time, in Unix seconds: refuse one far from now (a replay).",
        _DIGITS,
    ),
    (
        "webhook-signature",
        'v1,<base64 of HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}", keyed with '
        "the bytes of the key's `whsec_` secret>; several, space-separated, may come.",
        {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
    ),
    (
        "content-language",
        "The language of the texts in `data`: that of the request that made the generation.",
        {"type": "string"},
    ),
    (
        "x-request-id",
        "The id of the request that made the generation (as its X-Request-ID was).",
        {"type": "string"},
    ),
)


def webhooks(schema):
    """OpenAPI 3.1's `webhooks`: the POST each event type makes to the callback URL."""
    parameters = [
        {"name": name, "in": "header", "required": True, "description": text, "schema": kind}
        for name, text, kind in WEBHOOK_HEADERS
    ]
    events = {}
    for event_type, text in EVENTS.items():
        status = event_type.removeprefix("generation.")
        example = {
            "type": event_type,
            "timestamp": "2026-05-01T09:30:09.120Z",
            "data": generation_example(status),
        }
        events[event_type] = {
            "post": {
                "operationId": "webhook_" + event_type.replace(".", "_"),
                "summary": event_type,
                "description": text + " Signed as Standard Webhooks says "
                "(https://www.standardwebhooks.com); answer 2xx, or it is tried again for a "
                "day (410 Gone stops it).",
                "tags": ["webhooks"],
                "security": [],
                "parameters": copy.deepcopy(parameters),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "timestamp", "data"],
                                "properties": {
                                    "type": {"type": "string", "const": event_type},
                                    "timestamp": {
                                        "type": "string",
                                        "format": "date-time",
                                        "description": "When it ended (held: when it was).",
                                    },
                                    "data": {"$ref": "#/components/schemas/GenerationOut"},
                                },
                            },
                            "example": example,
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received: no more attempts."},
                    "410": {"description": "Gone: no more calls for this event."},
                    "default": {"description": "Tried again: 30 s, 2 min, 10 min, … for a day."},
                },
            }
        }
    schema["webhooks"] = events
