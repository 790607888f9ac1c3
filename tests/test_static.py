"""Static files through whitenoise with hashed names, in every mode."""

from django.templatetags.static import static


def test_static_files_are_served_with_hashed_names_when_debug_is_off(client, settings):
    settings.DEBUG = False
    url = static("css/site.css")
    assert url != "/static/css/site.css"  # the manifest gives it a content hash
    response = client.get(url)
    assert response.status_code == 200
    assert b"TravelFit" in b"".join(response.streaming_content)
    assert "max-age=315360000" in response["Cache-Control"]
