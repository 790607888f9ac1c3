"""URLs of the generation pages."""

from django.urls import path

from . import chain_views, share_views, trip_views, verify_views, views

app_name = "imagegen"

urlpatterns = [
    # The create page for a signed-in user, the landing page for a visitor (views.home).
    path("", views.home, name="create"),
    path("gallery/", views.gallery, name="gallery"),
    path("ops/", views.ops, name="ops"),
    path("g/<uuid:generation_id>/", views.detail, name="detail"),
    path("g/<uuid:generation_id>/status", views.status, name="status"),
    path("g/<uuid:generation_id>/image.png", views.image, name="image"),
    path("g/<uuid:generation_id>/thumb.webp", views.thumbnail, name="thumbnail"),
    path("g/<uuid:generation_id>/cancel", views.cancel, name="cancel"),
    path("g/<uuid:generation_id>/retry", views.retry, name="retry"),
    path("g/<uuid:generation_id>/edit-again", chain_views.edit_again, name="edit_again"),
    path("g/<uuid:generation_id>/favourite", views.favourite, name="favourite"),
    path("g/<uuid:generation_id>/delete", views.delete, name="delete"),
    path("g/<uuid:generation_id>/share", views.share, name="share"),
    path("g/<uuid:generation_id>/unshare", views.unshare, name="unshare"),
    path("u/<uuid:upload_id>/image", views.upload_image, name="upload_image"),
    path("photos/forget", views.forget_photo, name="forget_photo"),
    # Share tokens are URL-safe base64 (secrets.token_urlsafe): nothing else can match one.
    path("s/<slug:token>/", share_views.shared, name="shared"),
    path("s/<slug:token>/image.png", share_views.shared_image, name="shared_image"),
    path("s/<slug:token>/report", share_views.report_shared, name="report_shared"),
    # Open to everyone: check an image's marks, and the terms that say what they are.
    path("verify", verify_views.verify, name="verify"),
    path("terms", verify_views.terms, name="terms"),
    # Trip lookbooks (issue 31).
    path("trips/", trip_views.trip_list, name="trips"),
    path("trips/new/", trip_views.trip_new, name="trip_new"),
    path("trips/new/confirm", trip_views.trip_confirm, name="trip_confirm"),
    path("trips/<uuid:trip_id>/", trip_views.trip_page, name="trip"),
    path("trips/<uuid:trip_id>/days/<str:date>/redo", trip_views.trip_redo_day, name="trip_redo"),
    path("trips/<uuid:trip_id>/sheet.jpg", trip_views.trip_sheet_download, name="trip_sheet"),
    path("trips/<uuid:trip_id>/packing", trip_views.trip_packing, name="trip_packing"),
    path("trips/<uuid:trip_id>/share", trip_views.trip_share, name="trip_share"),
    path("t/<slug:token>/", trip_views.trip_shared, name="trip_shared"),
]
