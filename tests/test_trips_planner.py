"""Who plans the outfits: the rules, or a chat model through the Hugging Face router (a stand-in
on 127.0.0.1, tests/fakes/chat_completion.py) held to the same garments, with the rules taking
over whenever its answer cannot be used."""

import datetime
import json

import pytest
from huggingface_hub.inference import _providers

from imagegen.trips import planner
from imagegen.trips.conditions import DayWeather
from imagegen.trips.outfits import plan_by_rules
from imagegen.trips.vocabulary import ACTIVITIES, find_style
from tests.fakes.chat_completion import start_chat_router
from tests.fakes.hf_server import huggingface_hub_pointed_at

TOKEN = "hf_" + "p" * 34
START = datetime.date(2026, 7, 1)
DAYS = [
    DayWeather(START, 30.0, 24.0, 10, 8.0, 1, "forecast"),
    DayWeather(START + datetime.timedelta(days=1), 24.0, 17.0, 70, 12.0, 61, "forecast"),
    DayWeather(START + datetime.timedelta(days=2), 14.0, 6.0, 0, 20.0, 3, "history"),
]
ACTIVITY_PLAN = {DAYS[0].date: [ACTIVITIES["beach"]], DAYS[2].date: [ACTIVITIES["hiking"]]}


@pytest.fixture
def chat(settings):
    server = start_chat_router()
    saved = _providers.CONVERSATIONAL_AUTO_ROUTER.base_url
    settings.TRIP_PLANNER = "hf_inference"
    settings.TRIP_PLANNER_MODEL = "Qwen/Qwen2.5-7B-Instruct"
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = server.url
    settings.HF_TIMEOUT = 2.0
    with huggingface_hub_pointed_at(server.url):
        yield server
    _providers.CONVERSATIONAL_AUTO_ROUTER.base_url = saved
    server.stop()


def model_plan(**changes):
    """The rules' own plan as a chat model would answer it, with some days' slots changed."""
    days = []
    for plan in plan_by_rules(DAYS, ACTIVITY_PLAN):
        entry = {"date": plan.date.isoformat(), **plan.outfit.as_ids()}
        entry.update(changes.get(plan.date.isoformat(), {}))
        days.append(entry)
    return {"days": days}


def test_the_rules_plan_by_default_and_ask_nobody(chat, settings):
    settings.TRIP_PLANNER = "rules"

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN, "편한 캐주얼")

    assert plan.planner == "rules" and plan.fallback == ""
    assert [day.outfit for day in plan.days] == [
        day.outfit for day in plan_by_rules(DAYS, ACTIVITY_PLAN, find_style("편한 캐주얼"))
    ]
    assert chat.requests == []


def test_a_chat_models_plan_within_the_vocabulary_is_used(chat):
    chat.content = json.dumps(model_plan(**{"2026-07-02": {"shoes": "loafers", "top": "shirt"}}))

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN, "smart for dinners")

    assert (plan.planner, plan.fallback) == ("hf_inference", "")
    assert (plan.days[1].outfit.shoes.id, plan.days[1].outfit.top.id) == ("loafers", "shirt")
    assert plan.days[2].activities == (ACTIVITIES["hiking"],)
    assert {item.garment.id for item in plan.packing} >= {"loafers", "shirt", "hiking_boots"}


def test_the_chat_model_is_asked_through_the_router_with_a_strict_json_schema(chat):
    chat.content = json.dumps(model_plan())

    planner.plan_trip(DAYS, ACTIVITY_PLAN, "편한 캐주얼")

    (request,) = chat.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json["model"] == "Qwen/Qwen2.5-7B-Instruct"
    schema_format = request.json["response_format"]
    assert schema_format["type"] == "json_schema" and schema_format["json_schema"]["strict"]
    day = schema_format["json_schema"]["schema"]["properties"]["days"]["items"]
    assert "padded_jacket" in day["properties"]["outer"]["enum"]
    assert None in day["properties"]["outer"]["enum"]
    asked = json.loads(request.json["messages"][1]["content"])
    assert [day["date"] for day in asked["days"]] == ["2026-07-01", "2026-07-02", "2026-07-03"]
    assert asked["days"][0]["activities"] == ["beach"]
    assert asked["days"][1]["rain_chance_percent"] == 70
    assert asked["style_note"] == "편한 캐주얼"
    assert asked["vocabulary"]["top"]["t_shirt"] == "T-shirt"


def test_a_plan_in_a_code_fence_is_read(chat):
    chat.content = "```json\n" + json.dumps(model_plan()) + "\n```"

    assert planner.plan_trip(DAYS, ACTIVITY_PLAN).planner == "hf_inference"


def shuffled_days():
    plan = model_plan()
    plan["days"].reverse()
    return json.dumps(plan)


def without_a_day():
    plan = model_plan()
    plan["days"].pop()
    return json.dumps(plan)


def with_a_day_twice():
    plan = model_plan()
    plan["days"][2] = dict(plan["days"][1])
    return json.dumps(plan)


def with_an_extra_key():
    return json.dumps({**model_plan(), "note": "have fun"})


BAD_ANSWERS = {
    "prose": "Wear light clothes on the beach and bring an umbrella on Thursday.",
    "empty": "",
    "a list": json.dumps(model_plan()["days"]),
    "a day missing": without_a_day(),
    "a day twice": with_a_day_twice(),
    "an extra key": with_an_extra_key(),
    "a date not on the trip": json.dumps(model_plan(**{"2026-07-01": {"date": "2026-08-01"}})),
    "an unknown garment": json.dumps(model_plan(**{"2026-07-01": {"top": "hawaiian_shirt"}})),
    "a garment in the wrong slot": json.dumps(model_plan(**{"2026-07-01": {"top": "umbrella"}})),
    "an extra from another slot": json.dumps(model_plan(**{"2026-07-01": {"extras": ["coat"]}})),
    "a padded jacket at 30°C": json.dumps(model_plan(**{"2026-07-01": {"outer": "padded_jacket"}})),
    "shorts in the cold": json.dumps(model_plan(**{"2026-07-03": {"bottom": "shorts"}})),
    "an extra twice": json.dumps(
        model_plan(**{"2026-07-01": {"extras": ["sunglasses", "sunglasses"]}})
    ),
    "a slot missing": json.dumps(model_plan(**{"2026-07-01": {"shoes": None}})),
    "not a string": json.dumps(model_plan(**{"2026-07-01": {"top": ["t_shirt"]}})),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_an_answer_outside_the_vocabulary_or_the_trip_lets_the_rules_decide(chat, answer):
    chat.content = answer

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert (plan.planner, plan.fallback) == ("rules", "invalid")
    assert [day.outfit for day in plan.days] == [
        day.outfit for day in plan_by_rules(DAYS, ACTIVITY_PLAN)
    ]


def test_days_in_another_order_are_still_each_days_outfit(chat):
    chat.content = shuffled_days()

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert plan.planner == "hf_inference"
    assert [day.outfit for day in plan.days] == [
        day.outfit for day in plan_by_rules(DAYS, ACTIVITY_PLAN)
    ]


@pytest.mark.parametrize("behaviour", ["401", "429", "500", "503", "html", "no-choices", "hangup"])
def test_a_router_that_fails_lets_the_rules_decide(chat, behaviour):
    chat.behaviour = behaviour
    chat.content = json.dumps(model_plan())

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert (plan.planner, plan.fallback) == ("rules", "failed")
    assert len(chat.requests) == 1


def test_a_slow_router_is_given_up_on(chat):
    chat.behaviour = "slow"
    chat.slow_seconds = 10.0

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert (plan.planner, plan.fallback) == ("rules", "failed")
    assert "Timeout" in plan.fallback_reason


def test_an_error_echoing_the_token_never_repeats_it(chat):
    chat.behaviour = "echo-400"

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert plan.fallback == "failed" and "HTTP 400" in plan.fallback_reason
    assert TOKEN not in plan.fallback_reason


def test_without_a_token_the_rules_decide_and_nobody_is_asked(chat, settings):
    settings.HUGGINGFACE_API_TOKEN = ""

    plan = planner.plan_trip(DAYS, ACTIVITY_PLAN)

    assert (plan.planner, plan.fallback) == ("rules", "unconfigured")
    assert chat.requests == []


def test_the_rules_own_plans_pass_the_check_a_chat_model_must_pass():
    """The nonsense check is no stricter than the rules: it refuses what they never choose."""
    plans = plan_by_rules(DAYS, ACTIVITY_PLAN)

    outfits = planner.read_plan(json.dumps(model_plan()), DAYS)

    assert [outfits[plan.date] for plan in plans] == [plan.outfit for plan in plans]
