"""Where a page's <img> points for a finished generation: straight at the bucket (a signed URL,
no hop through our server) with MEDIA_STORAGE=s3, else at our own view that sends the file."""

from django import template
from django.urls import reverse

from imagegen import media
from imagegen.services.marks import labels_files

register = template.Library()


@register.simple_tag
def thumbnail_src(generation):
    return media.direct_url(
        generation.thumbnail,
        content_type="image/webp",
        fallback=reverse("imagegen:thumbnail", args=[generation.pk]),
    )


@register.simple_tag
def image_src(generation):
    return media.direct_url(
        generation.image,
        content_type=generation.image_content_type,
        fallback=reverse("imagegen:image", args=[generation.pk]),
    )


@register.simple_tag
def shared_image_src(generation, token):
    """The shared file: with IMAGEGEN_VISIBLE_LABEL=files the copy with the label burnt in
    (our view makes it when the worker has not yet), else the original."""
    field = generation.labelled_image if labels_files() else generation.image
    return media.direct_url(
        field,
        content_type=generation.image_content_type,
        fallback=reverse("imagegen:shared_image", args=[token]),
    )


@register.simple_tag
def upload_src(upload):
    """An uploaded photo, for its owner's pages."""
    return media.direct_url(
        upload.image,
        content_type=upload.content_type,
        fallback=reverse("imagegen:upload_image", args=[upload.pk]),
    )
