"""What the site offers through the API: the travel presets, the quality tiers, and what a
request may ask for (/capabilities)."""

from django.conf import settings
from ninja import Router

from .. import selectors, services, tiers, translation
from ..forms import MAX_BATCH, aspect_size
from ..models import MAX_SEED, Aspect, Generation, Preset
from ..providers import available_tasks
from ..tiers import primary_provider
from .errors import error_answers
from .schemas import CapabilitiesOut, PresetList, TierList
from .uploads import upload_limits

router = Router()


@router.get(
    "/presets",
    response={200: PresetList, **error_answers(401, 429)},
    url_name="presets",
    summary="List the travel presets",
    tags=["site"],
)
def list_presets(request):
    """The travel presets `preset` takes, in the create page's order, named in the reader's
    language (`Accept-Language`), with the size each makes unless `aspect` says otherwise."""
    capabilities = primary_provider().capabilities
    return {
        "results": [
            {
                "id": preset.pk,
                "name": preset.display_name,
                "description": preset.display_description,
                "aspect": preset.aspect,
                **dict(
                    zip(("width", "height"), aspect_size(preset.aspect, capabilities), strict=True)
                ),
            }
            for preset in Preset.objects.filter(active=True)
        ]
    }


@router.get(
    "/tiers",
    response={200: TierList, **error_answers(401, 429)},
    url_name="tiers",
    summary="List the quality tiers",
    tags=["site"],
)
def list_tiers(request):
    """The quality tiers `tier` takes, in the create page's order: what each costs in quota
    units, what it can make, about how long it takes, and whether it can serve now."""
    default = tiers.default_tier()
    results = []
    for tier in tiers.tiers():
        tasks = tier.tasks()
        results.append(
            {
                "name": tier.name,
                "label": tier.label,
                "units": tier.units,
                "tasks": [task for task in Generation.Task.values if task in tasks],
                "typical_seconds": round(selectors.tier_typical_seconds(tier), 1),
                "default": tier == default,
                "available": any(services.paused_until(tier, task) is None for task in tasks),
            }
        )
    return {"results": results}


@router.get(
    "/capabilities",
    response={200: CapabilitiesOut, **error_answers(401, 429)},
    url_name="capabilities",
    summary="What a request may ask for",
    tags=["site"],
)
def capabilities(request):
    """The tasks `POST /generations` can do on this site, and the ranges it accepts (its first
    image provider's): sizes and the size of each aspect, whether it takes a negative prompt
    and a seed, steps and guidance, the longest prompt and the most images per request; and
    what `POST /uploads` takes (`uploads`: bytes, pixels, kinds of photo, uploads a day)."""
    provider = primary_provider()
    caps = provider.capabilities
    size = {"minimum": caps.min_size, "maximum": caps.max_size, "multiple_of": caps.size_step}

    def bounds(pair):
        return dict(zip(("minimum", "maximum"), pair, strict=True)) if pair else None

    return {
        "provider": provider.name,
        "tasks": [task for task in Generation.Task.values if task in available_tasks()],
        "width": size,
        "height": size,
        "aspects": {
            aspect.value: dict(zip(("width", "height"), aspect_size(aspect, caps), strict=True))
            for aspect in Aspect
        },
        "negative_prompt": caps.negative_prompt,
        "seed": bounds((0, MAX_SEED)) if caps.seed else None,
        "steps": bounds(caps.steps),
        "guidance": bounds(caps.guidance),
        "max_prompt_length": settings.IMAGEGEN_MAX_PROMPT_LENGTH,
        "max_batch": MAX_BATCH,
        "translation": translation.is_on(),
        "uploads": upload_limits(),
    }
