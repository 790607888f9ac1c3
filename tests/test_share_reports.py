"""Viewers' reports count voices: a signed-in reporter is one voice per account, an anonymous
one per IPv4 address or IPv6 /48, and anonymous voices alone never suspend a link
(services/review.py). A report is sent only once the viewer confirms it: choosing a reason sends
nothing, "Send report" does, without JavaScript."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from imagegen import services
from imagegen.models import Generation, ShareReport
from tests.conftest import run_queued_generations


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMAGEGEN_REPORTS_TO_SUSPEND = 3


@pytest.fixture
def token(user):
    generation = services.submit_generation(user=user, prompt="Jeju", width=256, height=256)
    run_queued_generations()
    return services.share_generation(generation_id=generation.pk, user=user)


def report(token, address, reporter=None, reason="sexual"):
    """A viewer at `address` (signed in as `reporter`, if given) sends a report as the page
    does: the page first, for the CSRF cookie, then the form."""
    viewer = Client(REMOTE_ADDR=address, enforce_csrf_checks=True)
    if reporter is not None:
        viewer.force_login(reporter)
    page = viewer.get(reverse("imagegen:shared", args=[token]))
    answer = viewer.post(
        reverse("imagegen:report_shared", args=[token]),
        {"reason": reason, "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
    )
    assert answer.status_code == 302, answer.status_code
    return answer


def suspended(token):
    return Generation.objects.get(share_token=token).share_suspended_at is not None


def test_anonymous_voices_alone_never_suspend_a_link(token):
    for host in range(1, 8):
        report(token, f"198.51.100.{host}")
    assert ShareReport.objects.filter(signed_in=False).count() == 7  # seven voices...
    assert not suspended(token)  # ...and the link still works
    assert Client().get(reverse("imagegen:shared", args=[token])).status_code == 200
    assert services.count_waiting().reported == 1  # a person still sees the reports


def test_one_ipv6_subscriber_is_one_voice_from_any_of_its_64s(token, make_user):
    for subnet in ("2001:db8:42:1::7", "2001:db8:42:2::7", "2001:db8:42:ffff::1"):
        report(token, subnet)
    assert ShareReport.objects.count() == 1
    report(token, "2001:db8:43::1")  # another /48: another voice
    report(token, "203.0.113.9", reporter=make_user("mina"))
    assert ShareReport.objects.count() == 3
    assert suspended(token)  # three voices, one of them an account


def test_three_signed_in_people_behind_one_carrier_nat_are_three_voices(token, make_user, settings):
    settings.IMAGEGEN_REPORTS_PER_HOUR = 2  # per account, not per shared address
    for name in ("jiho", "seoyeon"):
        report(token, "100.64.7.7", reporter=make_user(name))
    assert not suspended(token)
    report(token, "100.64.7.7", reporter=make_user("haneul"))
    assert ShareReport.objects.filter(signed_in=True).count() == 3
    assert suspended(token)
    assert Client().get(reverse("imagegen:shared", args=[token])).status_code == 403


def test_an_account_is_one_voice_wherever_it_reports_from(token, make_user):
    reporter = make_user("dana")
    report(token, "198.51.100.1", reporter=reporter)
    report(token, "2001:db8:99::1", reporter=reporter, reason="violence")
    (kept,) = ShareReport.objects.all()
    assert kept.signed_in and kept.reason == "sexual"


def test_two_anonymous_voices_and_one_account_suspend_the_link(token, make_user):
    report(token, "198.51.100.1")
    report(token, "198.51.100.2")
    assert not suspended(token)
    report(token, "198.51.100.2", reporter=make_user("jun"))  # same address, signed in
    assert suspended(token)


def test_the_report_form_sends_nothing_until_send_report_is_pressed(client, token):
    """Without JavaScript: the reasons are radio buttons (choosing one submits nothing) and
    the form's one submit button, "Send report", carries no reason of its own."""
    page = client.get(reverse("imagegen:shared", args=[token])).content.decode()
    form = page[page.index('<form method="post" action="/s/') :]
    form = form[: form.index("</form>")]
    radios = re.findall(r'<input type="radio" name="reason" value="(\w+)" required>', form)
    assert sorted(radios) == sorted(ShareReport.Reason.values)
    (button,) = re.findall(r"<button[^>]*>[^<]*</button>", form)
    assert 'type="submit"' in button and "name=" not in button and "Send report" in button
    # Pressing it with no reason chosen sends nothing and says why.
    answer = client.post(reverse("imagegen:report_shared", args=[token]), follow=True)
    assert "Choose why you are reporting this image." in answer.content.decode()
    assert not ShareReport.objects.exists()


def test_the_review_queue_says_how_many_voices_are_accounts(token, make_user, admin_client):
    report(token, "198.51.100.1")
    report(token, "198.51.100.2", reporter=make_user("yerin"), reason="violence")
    queue = admin_client.get(reverse("admin:imagegen_reviewitem_changelist")).content.decode()
    assert "Sexual content × 1" in queue and "Violence or gore × 1" in queue
    assert "(1 of 2 from signed-in accounts)" in queue
