"""Planning a trip's outfits: by the rules, or by a chat model held to the same garments.

`plan_trip(days, activities, style_note)` returns every day's outfit and the packing list, and
says which planner decided. TRIP_PLANNER=rules (the default) is `outfits.plan_by_rules`.
TRIP_PLANNER=hf_inference asks TRIP_PLANNER_MODEL through the Hugging Face router
(`InferenceClient.chat_completion` on the router's OpenAI-compatible /v1/chat/completions at
HF_ROUTER_URL, with HUGGINGFACE_API_TOKEN) for JSON that a JSON schema constrains to the
vocabulary; the answer is then checked strictly: one entry per day and date, a known garment
in each slot, nothing a day's temperatures make absurd (a padded jacket at 30°C). Whatever goes
wrong (no token, an error, the wait, prose instead of JSON, an unknown garment), the rules
decide, and the plan says why, for operators and metrics.
"""

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from django.conf import settings

from .conditions import DayWeather, weather_kind
from .outfits import DayPlan, Outfit, PackingItem, felt_range, packing_list, plan_by_rules
from .vocabulary import BOTTOM, EXTRAS, OUTER, SHOES, TOP, Activity, find_style, garments_for

logger = logging.getLogger(__name__)

RULES, HF_INFERENCE = "rules", "hf_inference"
# Why a chat model's plan was not used, as metrics count it.
UNCONFIGURED, FAILED, INVALID = "unconfigured", "failed", "invalid"
# Seconds the chat model may take before the rules decide (less when HF_TIMEOUT is less).
PLANNER_WAIT_SECONDS = 10.0
MAX_EXTRAS = 6
# A chat model may stray this far (°C) outside a garment's temperatures before it is nonsense.
SLACK_DEGREES = 3
FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)

SYSTEM_PROMPT = (
    "You plan what a traveller wears on each day of a trip. Answer only with JSON matching the "
    "schema: one entry per day, in the same order, each garment id taken from the vocabulary "
    "of its slot. Dress for the day's felt high for top, bottom and shoes, and choose the outer "
    "layer for the day's low (null when none is needed). Add an umbrella when rain is likely, "
    "waterproof shoes when it is very likely, and suit each day's activities and the style note."
)


@dataclass(frozen=True)
class TripPlan:
    """Every day's outfit, the packing list, and who decided: `planner` is "rules" or
    "hf_inference"; when the chat model was asked but not used, `fallback` says why (one of
    UNCONFIGURED, FAILED, INVALID) and `fallback_reason` in words."""

    days: tuple[DayPlan, ...]
    packing: tuple[PackingItem, ...]
    planner: str
    fallback: str = ""
    fallback_reason: str = ""


class PlanRefused(Exception):
    """The chat model's plan cannot be used; `kind` is UNCONFIGURED, FAILED or INVALID."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def plan_trip(
    days: Iterable[DayWeather],
    activities: Mapping[date, Sequence[Activity]] | None = None,
    style_note: str = "",
) -> TripPlan:
    """Outfits for every day and the packing list, by TRIP_PLANNER (see the docstring)."""
    days = sorted(days, key=lambda day: day.date)
    activities = activities or {}
    style = find_style(style_note)
    if settings.TRIP_PLANNER == HF_INFERENCE and days:
        try:
            outfits = _ask_chat_model(days, activities, style_note)
        except PlanRefused as refused:
            logger.warning("trip planner fell back to the rules (%s): %s", refused.kind, refused)
            plans = plan_by_rules(days, activities, style)
            return TripPlan(plans, packing_list(plans), RULES, refused.kind, refused.reason[:500])
        plans = tuple(
            DayPlan(day, tuple(activities.get(day.date, ())), outfits[day.date]) for day in days
        )
        return TripPlan(plans, packing_list(plans), HF_INFERENCE)
    plans = plan_by_rules(days, activities, style)
    return TripPlan(plans, packing_list(plans), RULES)


def _ask_chat_model(days, activities, style_note) -> dict[date, Outfit]:
    client = _chat_client()
    request = {
        "days": [_describe_day(day, activities.get(day.date, ())) for day in days],
        "style_note": str(style_note or "")[:200],
        "vocabulary": {
            slot: {garment.id: garment.english for garment in garments_for(slot)}
            for slot in (TOP, BOTTOM, OUTER, SHOES, EXTRAS)
        },
    }
    try:
        answer = client.chat_completion(
            [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(request, ensure_ascii=False)},
            ],
            model=settings.TRIP_PLANNER_MODEL,
            response_format=response_format(len(days)),
            max_tokens=200 + 120 * len(days),
            temperature=0.2,
        )
        content = answer.choices[0].message.content
    except Exception as exc:  # the library's errors, a timeout, an answer of the wrong shape
        raise PlanRefused(FAILED, _describe_error(exc)) from None
    return read_plan(content, days)


def _chat_client():
    """An InferenceClient for the router's chat completions at HF_ROUTER_URL."""
    from huggingface_hub import InferenceClient
    from huggingface_hub.inference import _providers

    from ..providers.hf_client import TOKEN_HELP, prepare_client_library

    token = settings.HUGGINGFACE_API_TOKEN
    if not token.startswith("hf_"):
        raise PlanRefused(
            UNCONFIGURED, f"TRIP_PLANNER=hf_inference needs a Hugging Face token. {TOKEN_HELP}"
        )
    prepare_client_library()
    # Chat completion without a provider goes to the router's own auto-routing helper, whose
    # base URL huggingface_hub fixes at import; prepare_client_library moves the others only.
    _providers.CONVERSATIONAL_AUTO_ROUTER.base_url = settings.HF_ROUTER_URL
    wait = min(PLANNER_WAIT_SECONDS, settings.HF_TIMEOUT)
    return InferenceClient(provider="auto", api_key=token, timeout=wait)


def _describe_day(day: DayWeather, activities) -> dict:
    low, high = felt_range(day)
    kind = weather_kind(day.weather_code)
    return {
        "date": day.date.isoformat(),
        "felt_high_c": high,
        "felt_low_c": low,
        "rain_chance_percent": day.precipitation_probability,
        "wind_kmh": day.wind_speed_max,
        "weather": kind.english if kind else None,
        "activities": [activity.id for activity in activities],
    }


def response_format(day_count: int) -> dict:
    """The JSON schema a plan must follow (OpenAI's json_schema response format, strict)."""

    def one_of(slot, nullable=False):
        ids = [garment.id for garment in garments_for(slot)]
        return {"type": ["string", "null"], "enum": [*ids, None]} if nullable else {"enum": ids}

    day = {
        "type": "object",
        "properties": {
            "date": {"type": "string"},
            TOP: one_of(TOP),
            BOTTOM: one_of(BOTTOM),
            OUTER: one_of(OUTER, nullable=True),
            SHOES: one_of(SHOES),
            EXTRAS: {"type": "array", "items": one_of(EXTRAS), "maxItems": MAX_EXTRAS},
        },
        "required": ["date", TOP, BOTTOM, OUTER, SHOES, EXTRAS],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {
            "days": {"type": "array", "items": day, "minItems": day_count, "maxItems": day_count}
        },
        "required": ["days"],
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": "trip_outfits", "schema": schema, "strict": True},
    }


def read_plan(content, days: Sequence[DayWeather]) -> dict[date, Outfit]:
    """Each day's outfit from a chat model's answer, or PlanRefused(INVALID) saying why."""
    if not isinstance(content, str):
        raise PlanRefused(INVALID, "the answer has no text")
    text = content.strip()
    fenced = FENCED.match(text)
    try:
        plan = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        raise PlanRefused(INVALID, f"the answer is not JSON: {text[:120]!r}") from None
    entries = plan.get("days") if isinstance(plan, dict) and set(plan) == {"days"} else None
    if not isinstance(entries, list) or len(entries) != len(days):
        raise PlanRefused(INVALID, f"the answer is not one entry for each of {len(days)} days")
    by_date = {day.date.isoformat(): day for day in days}
    outfits = {}
    for entry in entries:
        day = by_date.get(entry.get("date")) if isinstance(entry, dict) else None
        if day is None or day.date in outfits:
            raise PlanRefused(
                INVALID, f"an entry names no day of the trip, or one twice: {entry!r}"[:300]
            )
        outfits[day.date] = _read_outfit(entry, day)
    return outfits


def _read_outfit(entry: dict, day: DayWeather) -> Outfit:
    if set(entry) != {"date", TOP, BOTTOM, OUTER, SHOES, EXTRAS}:
        raise PlanRefused(INVALID, f"{entry['date']}: the slots are {sorted(entry)}")
    extras = entry[EXTRAS]
    if (
        not isinstance(extras, list)
        or len(extras) > MAX_EXTRAS
        or len(set(map(str, extras))) != len(extras)
    ):
        raise PlanRefused(INVALID, f"{entry['date']}: extras must be a short list without repeats")
    try:
        outfit = Outfit.from_ids(entry)
    except (KeyError, TypeError):
        raise PlanRefused(INVALID, f"{entry['date']}: a garment outside the vocabulary") from None
    slots = {TOP: outfit.top, BOTTOM: outfit.bottom, OUTER: outfit.outer, SHOES: outfit.shoes}
    for slot, garment in slots.items():
        if garment is not None and garment.slot != slot:
            raise PlanRefused(INVALID, f"{entry['date']}: {garment.id} is not a {slot}")
    if any(garment.slot != EXTRAS for garment in outfit.extras):
        raise PlanRefused(INVALID, f"{entry['date']}: extras hold a garment of another slot")
    low, high = felt_range(day)
    for garment in outfit.garments():
        if not garment.suits(low - SLACK_DEGREES, high + SLACK_DEGREES):
            raise PlanRefused(INVALID, f"{entry['date']}: {garment.id} at {low}–{high}°C")
    return outfit


def _describe_error(exc: Exception) -> str:
    """What went wrong with the chat model, for operators: the class, the HTTP status, the
    start of the message (the library's messages carry no token)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    where = f"HTTP {status}: " if status else ""
    text = f"{type(exc).__name__}: {where}{str(exc)[:300]}"
    # A proxy or server may echo the Authorization header back in its error.
    token = settings.HUGGINGFACE_API_TOKEN
    return text.replace(token, "hf_[redacted]") if token else text
