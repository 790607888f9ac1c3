"""Edit again (issue 32): a finished result edited as the source of a new version, chains with a
branch, editing from the original, the refusals, and quota per turn, through the services and
the demo provider (made in this process, as a worker would)."""

import hashlib
import io
import json

import pytest
from django.urls import reverse
from PIL import Image

from imagegen import chains, selectors, services, webhooks
from imagegen.marks import credentials
from imagegen.models import Generation, Quota
from tests import photos
from tests.conftest import run_queued_generations


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def made(user, **request):
    """A generation submitted and made now; returned fresh from the database."""
    generation = services.submit_generation(user=user, width=320, height=240, **request)
    run_queued_generations()
    generation.refresh_from_db()
    return generation


def edit_of(user, parent, prompt, **extra):
    return made(user, task="edit", prompt=prompt, parent=parent, **extra)


def stored(generation):
    with generation.image.open("rb") as handle:
        return handle.read()


def parameters_of(generation):
    return Image.open(io.BytesIO(stored(generation))).text["parameters"]


def day_used(user):
    return Quota.objects.get(user=user).day_used


def test_a_three_step_chain_with_a_branch_is_made_from_each_stored_result(user):
    first = made(user, prompt="Jeju at sunrise")
    assert day_used(user) == 1
    second = edit_of(user, first, "at night")
    assert day_used(user) == 2
    third = edit_of(user, second, "with snow")
    assert day_used(user) == 3
    branch = edit_of(user, second, "in autumn")  # version 2 edited again after version 3
    assert day_used(user) == 4
    for version in (second, third, branch):
        assert version.status == Generation.Status.SUCCEEDED, version.error_detail
        assert version.chain_root_id == first.pk
        assert version.source_image_id is None  # no upload: the stored result is the source
    assert (second.parent_id, third.parent_id, branch.parent_id) == (first.pk, second.pk, second.pk)
    assert first.chain_root_id is None
    # The parent's stored bytes went in as they are: the result's credentials name them.
    report = credentials.read(stored(third), third.image_content_type)
    parents = [item for item in report.ingredients if item["relationship"] == "parentOf"]
    assert [item["sha256"] for item in parents] == [hashlib.sha256(stored(second)).hexdigest()]
    assert parents[0]["has_manifest"]
    # Edited at the size of what it edits; only its own instruction sent.
    assert (third.width, third.height) == (second.width, second.height)
    assert "with snow" in parameters_of(third) and "at night" not in parameters_of(third)

    chain = chains.chain_of(second)
    assert [v.pk for v in chain.ancestors] == [first.pk]
    assert [v.pk for v in chain.children] == [third.pk, branch.pk]
    assert [v.pk for v in chain.branch] == [first.pk, second.pk, branch.pk]  # the newest end
    assert [v.pk for v in chains.chain_of(third).branch] == [first.pk, second.pk, third.pk]
    assert len(chain.members) == 4


def test_from_the_original_edits_the_first_photo_with_all_the_instructions(user):
    upload = services.store_upload(user=user, data=photos.jpeg_with_gps(320, 240))
    first = made(user, task="edit", prompt="at sunset", source_image=upload)
    second = edit_of(user, first, "at night")
    third = edit_of(user, second, "with snow", from_original=True)
    assert third.status == Generation.Status.SUCCEEDED, third.error_detail
    assert (third.from_original, third.source_image_id) == (True, upload.pk)
    assert third.prompt == "with snow"  # its own instruction, as the strip shows it
    assert "at sunset; at night; with snow" in parameters_of(third)
    # The photo went in, not version 2.
    report = credentials.read(stored(third), third.image_content_type)
    parents = [item for item in report.ingredients if item["relationship"] == "parentOf"]
    assert [(item["title"], item["has_manifest"]) for item in parents] == [
        ("the user's photo", False)
    ]
    # From the original of a chain that began with words: that first picture is the source.
    words = made(user, prompt="Seoul tower")
    again = edit_of(user, edit_of(user, words, "rainy"), "sunny", from_original=True)
    assert again.status == Generation.Status.SUCCEEDED, again.error_detail
    assert again.source_image_id is None
    assert "rainy; sunny" in parameters_of(again) and "Seoul tower" not in parameters_of(again)
    report = credentials.read(stored(again), again.image_content_type)
    parents = [item for item in report.ingredients if item["relationship"] == "parentOf"]
    assert [item["sha256"] for item in parents] == [hashlib.sha256(stored(words)).hexdigest()]


def refusal(user, parent, **extra):
    with pytest.raises(services.SubmissionRefused) as caught:
        services.submit_generation(
            user=user,
            **{"task": "edit", "prompt": "x", "width": 320, "height": 240, **extra},
            parent=parent,
        )
    return caught.value


def test_a_foreign_an_unfinished_and_a_held_parent_are_refused_uncharged(user, make_user):
    other = made(make_user("bob"), prompt="not yours")
    mine = made(user, prompt="mine")
    used = day_used(user)
    refused = refusal(user, other)
    assert (refused.http_status, refused.code, refused.field) == (404, "not_found", "parent")
    assert refusal(user, "not-an-id").code == "not_found"
    queued = services.submit_generation(user=user, prompt="later", width=320, height=240)
    used = day_used(user)
    refused = refusal(user, queued)
    assert (refused.http_status, refused.code) == (409, "parent_unfinished")
    Generation.objects.filter(pk=mine.pk).update(status=Generation.Status.HELD)
    refused = refusal(user, mine)
    assert (refused.http_status, refused.code, refused.field) == (409, "parent_held", "parent")
    assert day_used(user) == used
    Generation.objects.filter(pk=mine.pk).update(status=Generation.Status.SUCCEEDED)
    assert refusal(user, mine, task="text").field == "parent"


def test_a_chain_at_its_longest_is_refused_with_its_own_code(user, settings):
    settings.IMAGEGEN_CHAIN_MAX = 3
    first = made(user, prompt="start")
    second = edit_of(user, first, "one")
    third = edit_of(user, second, "two")
    used = day_used(user)
    refused = refusal(user, third)
    assert (refused.code, refused.field, refused.http_status) == ("chain_too_long", "parent", 400)
    assert "3" in str(refused)
    assert day_used(user) == used
    assert edit_of(user, second, "a branch").status == Generation.Status.SUCCEEDED


def test_a_failed_turn_is_refunded_exactly(user):
    first = made(user, prompt="start")
    assert day_used(user) == 1
    queued = services.submit_generation(
        user=user, task="edit", prompt="x", width=1, height=1, parent=first
    )
    assert day_used(user) == 2
    first.image.storage.delete(first.image.name)  # its parent's file is gone before it runs
    run_queued_generations()
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert day_used(user) == 1


def test_deleting_a_version_keeps_its_children_in_the_chain(user):
    first = made(user, prompt="start")
    second = edit_of(user, first, "one")
    third = edit_of(user, second, "two")
    fourth = edit_of(user, third, "three")
    assert services.delete_generation(generation_id=second.pk, user=user)
    third.refresh_from_db()
    assert (third.parent_id, third.chain_root_id) == (first.pk, first.pk)
    assert services.delete_generation(generation_id=first.pk, user=user)
    third.refresh_from_db()
    fourth.refresh_from_db()
    assert (third.parent_id, third.chain_root_id) == (None, None)
    assert (fourth.parent_id, fourth.chain_root_id) == (third.pk, third.pk)
    assert [v.pk for v in chains.chain_of(fourth).branch] == [third.pk, fourth.pk]


def test_a_retried_turn_edits_the_same_parent(user):
    first = made(user, prompt="start")
    second = edit_of(user, first, "one", from_original=True)
    again = services.retry_generation(generation_id=second.pk, user=user)
    assert (again.parent_id, again.chain_root_id, again.from_original) == (
        first.pk,
        first.pk,
        True,
    )
    assert again.prompt == "one"


# --- The API ------------------------------------------------------------------------------------


def post_json(client, body):
    return client.post(
        reverse("api:generations"), json.dumps(body), content_type="application/json"
    )


def test_the_api_edits_a_picture_again_and_shows_its_chain(api, user, make_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    first = made(user, prompt="Jeju at sunrise")
    answer = post_json(
        api,
        {
            "task": "edit",
            "parent": str(first.pk),
            "prompt": "remove the tourists",
            "callback_url": "http://127.0.0.1:9/hook",
        },
    )
    assert answer.status_code == 201, answer.content
    item = answer.json()["results"][0]
    assert (item["parent"], item["chain_root"], item["source_image"]) == (
        str(first.pk),
        str(first.pk),
        None,
    )
    assert item["from_original"] is False
    run_queued_generations()
    second = Generation.objects.get(pk=item["id"])
    assert second.status == Generation.Status.SUCCEEDED, second.error_detail
    event = json.loads(webhooks.event_body(second))
    assert (event["data"]["parent"], event["data"]["chain_root"]) == (str(first.pk), str(first.pk))
    third = edit_of(user, second, "make the jacket red")

    chain = api.get(reverse("api:chain", args=[second.pk]))
    assert chain.status_code == 200, chain.content
    body = chain.json()
    assert body["root"] == str(first.pk)
    assert [a["id"] for a in body["ancestors"]] == [str(first.pk)]
    assert [c["id"] for c in body["children"]] == [str(third.pk)]
    assert body["branch"] == [str(first.pk), str(second.pk), str(third.pk)]
    assert body["size"] == 3
    assert api.get(reverse("api:generation", args=[first.pk])).json()["chain_root"] is None
    foreign = made(make_user("bob"), prompt="not yours")
    assert api.get(reverse("api:chain", args=[foreign.pk])).status_code == 404


def test_the_api_refuses_a_parent_naming_it(api, user, make_user):
    foreign = made(make_user("bob"), prompt="not yours")
    answer = post_json(api, {"task": "edit", "parent": str(foreign.pk), "prompt": "x"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], list(error["fields"])) == ("not_found", ["parent"])
    queued = services.submit_generation(user=user, prompt="later", width=320, height=240)
    answer = post_json(api, {"task": "edit", "parent": str(queued.pk), "prompt": "x"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "parent_unfinished")
    Generation.objects.filter(pk=queued.pk).update(status=Generation.Status.HELD)
    answer = post_json(api, {"task": "edit", "parent": str(queued.pk), "prompt": "x"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "parent_held")
    answer = post_json(api, {"task": "edit", "prompt": "x"})
    assert answer.status_code == 400
    assert "source_image" in answer.json()["error"]["fields"]


# --- The pages -----------------------------------------------------------------------------------


def test_the_detail_page_edits_again_and_shows_the_strip_and_the_slider(user_client, user):
    first = made(user, prompt="Jeju at sunrise")
    page = user_client.get(reverse("imagegen:detail", args=[first.pk])).content.decode()
    assert reverse("imagegen:edit_again", args=[first.pk]) in page
    assert 'type="range"' not in page  # nothing to compare a first picture with
    answer = user_client.post(
        reverse("imagegen:edit_again", args=[first.pk]), {"prompt": "remove the tourists"}
    )
    second = Generation.objects.get(parent=first)  # no photo, no consent tick asked
    assert answer.status_code == 302 and answer["Location"].endswith(
        reverse("imagegen:detail", args=[second.pk])
    )
    assert day_used(user) == 2
    run_queued_generations()
    page = user_client.get(reverse("imagegen:detail", args=[second.pk])).content.decode()
    second.refresh_from_db()
    assert second.status == "succeeded", second.error_detail
    assert 'type="range"' in page and "js/compare." in page
    assert "remove the tourists" in page and "Jeju at sunrise" in page
    assert 'aria-current="page"' in page
    assert "deleted 30 days" not in page  # its source is the picture, not a deleted photo
    refused = user_client.post(reverse("imagegen:edit_again", args=[first.pk]), {"prompt": ""})
    assert refused.status_code == 302 and Generation.objects.count() == 2


# --- The gallery --------------------------------------------------------------------------------


def cards_of(client, query=""):
    """The gallery's cards as (id opened, versions shown or None), in the page's order."""
    response = client.get(reverse("imagegen:gallery") + query, HTTP_ACCEPT_LANGUAGE="ko")
    cards = []
    for card in response.content.decode().split('<article class="card')[1:]:
        card = card.split("</article>", 1)[0]
        opened = card.split('href="/g/', 1)[1].split("/", 1)[0] if 'href="/g/' in card else None
        versions = None
        if 'data-role="versions"' in card:
            badge = card.split('data-role="versions">', 1)[1].split("</span>", 1)[0]
            versions = badge.rsplit("</svg>", 1)[1].strip()
        cards.append((opened, versions))
    return response, cards


def test_the_gallery_shows_a_chain_as_one_card_opening_its_newest_version(
    user_client, user, make_user
):
    alone = made(user, prompt="Busan harbour")
    first = made(user, prompt="Jeju at sunrise")
    second = edit_of(user, first, "at night")
    third = edit_of(user, second, "with snow")
    branch = edit_of(user, second, "in autumn")  # the newest: the card opens to it
    later = made(user, prompt="Gyeongju temple")
    theirs = made(make_user("bob"), prompt="Bob's trip")
    edit_of(theirs.owner, theirs, "Bob's second")
    response, cards = cards_of(user_client)
    assert cards == [(str(later.pk), None), (str(branch.pk), "4개 버전"), (str(alone.pk), None)]
    assert response.context["page"].paginator.count == 3  # cards, not rows
    page = response.content.decode()
    assert "Bob" not in page and str(third.pk) not in page
    # A queued version is newer but not finished: the card stays on the newest finished one.
    queued = services.submit_generation(
        user=user, task="edit", prompt="in spring", width=320, height=240, parent=third
    )
    assert cards_of(user_client)[1][1] == (str(branch.pk), "5개 버전")
    # In progress shows the queued one, as its own chain's card.
    assert cards_of(user_client, "?show=active")[1] == [(str(queued.pk), "5개 버전")]
    # A search finds the version with those words, and opens it.
    assert cards_of(user_client, "?q=snow")[1] == [(str(third.pk), "5개 버전")]
    # Deleting the newest finished version: its chain's card falls back to the next.
    services.cancel_generation(generation_id=queued.pk, user=user)
    assert services.delete_generation(generation_id=branch.pk, user=user)
    assert cards_of(user_client)[1][1] == (str(third.pk), "4개 버전")
    # Deleting the first picture splits nothing here: its one child takes its place.
    assert services.delete_generation(generation_id=first.pk, user=user)
    assert cards_of(user_client)[1][1] == (str(third.pk), "3개 버전")
    english = user_client.get(reverse("imagegen:gallery")).content.decode()
    assert "3 versions" in english and "Open the newest of its 3 versions:" in english


def test_the_gallery_counts_its_cards_as_it_shows_them_under_every_filter(user, make_user):
    """selectors.gallery_card_count (the page count's query) against the cards themselves,
    filters that keep a chain's first picture and filters that keep only later versions."""
    quota = services.quota_for(user)
    quota.daily_limit = 50
    quota.save()
    made(user, prompt="Busan harbour")
    first = made(user, prompt="Jeju at sunrise")
    second = edit_of(user, first, "at night")
    third = edit_of(user, second, "with snow")
    edit_of(user, second, "in autumn")
    seoul = made(user, prompt="Seoul in rain")
    made(make_user("bob"), prompt="Jeju with snow")  # another's: never counted
    services.submit_generation(  # queued, not made: "in progress" keeps it alone of its chain
        user=user, task="edit", prompt="at dusk", width=320, height=240, parent=seoul
    )
    Generation.objects.filter(pk__in=[third.pk, seoul.pk]).update(favourite=True)
    Generation.objects.filter(pk=first.pk).update(status=Generation.Status.FAILED)
    counted = {}
    for show in ("", "done", "active", "failed"):
        for favourites in (False, True):
            for query in ("", "snow", "night", "Jeju", "rain", "nothing here"):
                filters = {"show": show, "favourites": favourites, "query": query}
                cards = list(selectors.gallery_cards(user, **filters))
                assert selectors.gallery_card_count(user, **filters) == len(cards), filters
                counted[show, favourites, query] = len(cards)
    assert counted["", False, ""] == 3  # Busan, the Jeju chain, the Seoul chain
    # Chains whose first picture the filter drops are counted by it once each.
    assert counted["done", False, ""] == 3 and counted["", True, ""] == 2
    assert counted["active", False, ""] == 1 and counted["", False, "night"] == 1
    assert counted["failed", False, "Jeju"] == 1 and counted["", False, "nothing here"] == 0


def test_the_gallery_with_chains_asks_as_many_queries_as_without(
    user_client, user, django_assert_max_num_queries
):
    quota = services.quota_for(user)
    quota.daily_limit = 50
    quota.save()
    for i in range(3):
        made(user, prompt=f"few {i}")
    with django_assert_max_num_queries(6) as few:
        user_client.get(reverse("imagegen:gallery"))
    for i in range(4):
        first = made(user, prompt=f"chain {i}")
        edit_of(user, edit_of(user, first, "again"), "and again")
    response = None
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = user_client.get(reverse("imagegen:gallery"))
    assert response.context["page"].paginator.count == 7
    assert [card.versions for card in response.context["page"].object_list].count(3) == 4
