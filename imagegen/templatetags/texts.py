"""`{{ generation.error_message|localized }}`: a stored message in the reader's language;
`{{ generation|review_notice }}`: what a held or removed image's owner is told instead of it;
`{{ generation|image_alt }}`: a generated picture's text alternative ("AI-generated: …")."""

from django import template

from ..presenters import image_alt, review_notice
from ..user_messages import localize

register = template.Library()
register.filter("localized", localize)
register.filter("review_notice", review_notice)
register.filter("image_alt", image_alt)
