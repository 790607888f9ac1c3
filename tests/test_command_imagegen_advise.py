"""`manage.py imagegen_advise`: each way to run costed for a volume or a month; the cheapest."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from imagegen import reports
from imagegen.models import Generation


def advise(*args):
    out = io.StringIO()
    call_command("imagegen_advise", *args, stdout=out)
    return out.getvalue()


def section(text, title):
    """The lines under one way's heading, up to the next blank line."""
    block = text.split(title, 1)[1]
    return block.split("\n\n", 1)[0]


def flat(text):
    """The text with its notes unwrapped: every run of whitespace one space."""
    return " ".join(text.split())


def make_succeeded(owner, *, finished, seconds=None, provider="hf_inference"):
    started = finished - datetime.timedelta(seconds=seconds) if seconds is not None else None
    return Generation.objects.create(
        owner=owner,
        prompt="Busan harbour",
        width=512,
        height=512,
        status=Generation.Status.SUCCEEDED,
        provider=provider,
        image="generations/x.png",
        created_at=finished - datetime.timedelta(minutes=5),
        started_at=started,
        finished_at=finished,
    )


def test_the_guides_example_10000_images_on_a_t4(db):
    text = advise("--volume", "10000")

    assert (
        "10,000 images × 10 s = 100,000 s = 27.8 GPU hours × $0.20 = $5.56 "
        "+ PRO $9.00 = $14.56/month"
    ) in text
    for figure in ("27.8", "$5.56", "$14.56"):
        assert figure in text
    assert "a T4 kept on 24/7 costs $0.20 × 730 h = $146.00/month" in flat(text)


def test_10000_images_every_way_costed_and_the_endpoint_is_cheapest(db):
    text = advise("--volume", "10000")

    inference = section(text, "Inference Providers (hf_inference)")
    assert "$353.75/month" in inference
    assert "25 min = 1,500 s ÷ 10 s = 150 images" in inference
    assert "10,000 − 150 = 9,850 images × $0.035 = $344.75 + PRO $9.00 = $353.75/month" in inference
    a10g = section(text, "Space on an A10G (gradio_space)")
    assert "27.8 GPU hours × $0.60 = $16.67 + PRO $9.00 = $25.67/month" in a10g
    assert "Same seconds per image as the T4" in flat(a10g)
    assert "an A10G kept on 24/7 costs $0.60 × 730 h = $438.00/month" in flat(a10g)
    endpoint = section(text, "Dedicated Inference Endpoint (hf_endpoint)")
    assert "27.8 hours × $0.50 = $13.89/month (no PRO needed)" in endpoint
    assert "$0.50 × 730 h = $365.00/month" in flat(endpoint)
    # Scaled to zero, the endpoint's $0.50/h without PRO beats PRO + a $0.20/h T4 until
    # 30 GPU hours (10,800 images at 10 s).
    assert "Cheapest by this arithmetic: Dedicated Inference Endpoint (hf_endpoint), $13.89" in text
    assert "Space fork on a persistent GPU (gradio_space), $15–30/month" in text


def test_the_advice_is_decimal_dollars(db):
    advice = reports.advise(volume=10000)

    costs = {way.key: way.monthly for way in advice.ways}
    assert costs["inference"] == Decimal("353.750")
    assert costs["space_t4"].quantize(Decimal("0.0001")) == Decimal("14.5556")
    assert costs["space_a10g"].quantize(Decimal("0.0001")) == Decimal("25.6667")
    assert costs["endpoint"].quantize(Decimal("0.0001")) == Decimal("13.8889")
    assert advice.cheapest.key == "endpoint"


def test_above_10800_images_the_t4_space_is_cheapest(db):
    text = advise("--volume", "20000")

    assert "Cheapest by this arithmetic: Space on a T4 (gradio_space), $20.11/month" in text
    assert "→ over 10,000" in text


def test_500_images_cheapest_and_the_guides_band_side_by_side(db):
    text = advise("--volume", "500")

    assert "500 − 150 = 350 images × $0.035 = $12.25 + PRO $9.00 = $21.25/month" in text
    assert "500 images × 10 s = 5,000 s = 1.39 GPU hours × $0.20 = $0.28" in text
    assert "$9.28/month" in text
    # With these prices, a scale-to-zero endpoint costs only its 1.39 hours; the guide still
    # points a volume this small at the Inference API, and both are printed.
    assert "Cheapest by this arithmetic: Dedicated Inference Endpoint (hf_endpoint), $0.69" in text
    assert "The guide (section 9) for 500 images a month: Inference API (hf_inference)" in text
    assert "→ under 1,000" in text
    assert "They differ because the arithmetic counts only the seconds" in flat(text)


def test_no_explanation_when_the_cheapest_is_the_guides_choice(db, settings):
    settings.IMAGEGEN_SECONDS_PER_IMAGE = 20.0

    text = advise("--volume", "6000")

    # 33.3 GPU hours: PRO + T4 $15.67 against the endpoint's $16.67.
    assert "Cheapest by this arithmetic: Space on a T4 (gradio_space), $15.67" in text
    assert "→ 1,000–10,000" in text
    assert "They differ" not in text


def test_a_volume_the_pro_minutes_cover_mentions_the_free_tier(db):
    text = advise("--volume", "100")

    inference = section(text, "Inference Providers (hf_inference)")
    assert "100 − 150 = 0 images × $0.035 = $0.00 + PRO $9.00 = $9.00/month" in inference
    assert "free tier" in inference
    assert "free tier" not in advise("--volume", "151")


def test_volume_zero_costs_only_the_fixed_parts(db):
    text = advise("--volume", "0")

    assert "0 − 150 = 0 images × $0.035 = $0.00 + PRO $9.00 = $9.00/month" in text
    assert "0 images × 10 s = 0 s = 0.00 GPU hours × $0.20 = $0.00 + PRO $9.00 = $9.00" in text
    assert "0.00 hours × $0.50 = $0.00/month" in text


def test_prices_come_from_the_settings(db, settings):
    settings.IMAGEGEN_SPACE_USD_PER_HOUR = Decimal("0.40")
    settings.IMAGEGEN_PRO_USD_PER_MONTH = Decimal("10")

    text = advise("--volume", "10000")

    assert "27.8 GPU hours × $0.40 = $11.11 + PRO $10.00 = $21.11/month" in text
    assert "$14.56" not in text


def test_seconds_per_image_come_from_the_settings_for_a_volume(db, settings):
    settings.IMAGEGEN_SECONDS_PER_IMAGE = 20.0

    text = advise("--volume", "10000")

    assert "10,000 images × 20 s = 200,000 s = 55.6 GPU hours × $0.20 = $11.11" in text
    assert "1,500 s ÷ 20 s = 75 images" in text


def test_a_months_real_usage_gives_volume_and_median_seconds(user):
    november = datetime.datetime(2026, 11, 10, 12, tzinfo=datetime.UTC)
    for seconds in (12, 20, 30):
        make_succeeded(user, finished=november, seconds=seconds)
    # A demo image is demand, but its configured delay is not a GPU's speed.
    make_succeeded(user, finished=november, seconds=1, provider="demo")
    # October's image is another month's.
    make_succeeded(user, finished=november - datetime.timedelta(days=30), seconds=99)

    text = advise("--month", "2026-11")

    assert "4 images made in 2026-11 (1 of them by the demo provider" in text
    assert "20 s an image: the median of 3 timed images" in text
    assert "4 images × 20 s = 80 s = 0.02 GPU hours × $0.20 = $0.00 + PRO $9.00" in text
    assert "The guide (section 9) for 4 images a month" in text


def test_a_month_without_timed_images_uses_the_configured_seconds(user, settings):
    settings.IMAGEGEN_SECONDS_PER_IMAGE = 8.0
    make_succeeded(user, finished=datetime.datetime(2026, 11, 3, tzinfo=datetime.UTC))

    text = advise("--month", "2026-11")

    assert "1 image made in 2026-11." in text
    assert "8 s an image (IMAGEGEN_SECONDS_PER_IMAGE): no timed images" in text
    assert "1,500 s ÷ 8 s = 187 images" in text


def test_the_default_is_this_months_usage(user):
    make_succeeded(user, finished=datetime.datetime.now(datetime.UTC), seconds=15)

    text = advise()

    assert f"1 image made in {reports.month_label(reports.current_month())}" in text
    assert "15 s an image" in text


def test_volume_with_thousands_separators(db):
    assert "27.8 GPU hours" in advise("--volume", "10,000")


@pytest.mark.parametrize("volume", ["-5", "lots", "1.5", ""])
def test_a_bad_volume_is_an_error(db, volume):
    with pytest.raises(CommandError, match="--volume must be a whole number"):
        advise("--volume", volume)


def test_month_and_volume_together_are_refused(db):
    with pytest.raises(CommandError, match="not allowed with"):
        advise("--month", "2026-11", "--volume", "10")


def test_a_bad_month_is_an_error(db):
    with pytest.raises(CommandError, match="YYYY-MM"):
        advise("--month", "november")
