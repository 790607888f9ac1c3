"""`{{ generation.error_message|localized }}`: a stored message in the reader's language;
`{{ generation|review_notice }}`: what a held or removed image's owner is told instead of it;
`{{ generation|image_alt }}`: a generated picture's text alternative ("AI-generated: …");
`{{ generation|shown_words:caption }}`: the words a card shows for it (presenters.shown_words)."""

from django import template

from ..presenters import image_alt, review_notice, shown_words
from ..user_messages import localize

register = template.Library()
register.filter("localized", localize)
register.filter("review_notice", review_notice)
register.filter("image_alt", image_alt)
register.filter("shown_words", shown_words)
