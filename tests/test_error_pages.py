"""The error pages: 404, 403, 500 and an expired form (CSRF) in the site's own look, JSON
under /api/, and a 500 page that needs neither the request nor the database."""

import re

from django.contrib.auth.models import Permission
from django.template import loader
from django.test import Client
from django.urls import reverse

from imagegen import services
from imagegen.models import Generation

CREATE = reverse("imagegen:create")
GALLERY = reverse("imagegen:gallery")


def make(user, prompt="Gyeongbokgung at dawn"):
    return services.submit_generation(user=user, prompt=prompt, width=256, height=256)


def assert_site_look(body):
    """The page has the site's header and stylesheet, not Django's bare text."""
    assert 'class="topbar"' in body
    assert re.search(r'href="/static/css/site\.[0-9a-f]+\.css"', body)


def test_an_unknown_page_is_a_404_in_the_sites_look(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert_site_look(body)
    assert "There is nothing at this address" in body
    assert "didn" not in body  # not the resolver's technical "didn't match any of these"


def test_an_unknown_api_address_still_answers_json(client, db):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_forbidden_page_is_a_403_in_the_sites_look(client, make_user):
    # Staff without the permission to see generations, opening the admin's list of them.
    staff = make_user("clerk", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("admin:imagegen_generation_changelist"))
    assert response.status_code == 403
    body = response.content.decode()
    assert_site_look(body)
    assert "You may not open this page" in body
    # With the permission, the same page opens: the 403 was about the permission.
    staff.user_permissions.add(Permission.objects.get(codename="view_generation"))
    assert client.get(reverse("admin:imagegen_generation_changelist")).status_code == 200


def test_an_expired_form_says_to_go_back_and_reload(user, make_user):
    generation = make(user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    detail = reverse("imagegen:detail", args=[generation.pk])
    response = browser.post(
        reverse("imagegen:cancel", args=[generation.pk]), HTTP_REFERER=f"http://testserver{detail}"
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert_site_look(body)
    assert "The form expired" in body
    assert "Go back, reload the page, and send the form again." in body
    assert f'href="http://testserver{detail}"' in body  # back to the form's page
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED  # nothing was done


def test_an_expired_form_never_links_back_to_another_site(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    generation = make(user)
    response = browser.post(
        reverse("imagegen:cancel", args=[generation.pk]), HTTP_REFERER="https://evil.example/"
    )
    assert response.status_code == 403
    assert "evil.example" not in response.content.decode()


def test_a_crash_on_a_page_is_a_500_in_the_sites_look(user, settings):
    settings.IMAGEGEN_PROVIDERS = ["no_such_provider"]  # the prompt form cannot be built
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    response = browser.get(CREATE)
    assert response.status_code == 500
    body = response.content.decode()
    assert_site_look(body)
    assert "Something went wrong on our side" in body


def test_the_500_page_needs_no_request_and_no_database(django_assert_num_queries, db):
    with django_assert_num_queries(0):
        body = loader.get_template("500.html").render()
    assert "Something went wrong on our side" in body
    assert_site_look(body)
