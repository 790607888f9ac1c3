"""`{{ generation.error_message|localized }}`: a stored message in the reader's language."""

from django import template

from ..user_messages import localize

register = template.Library()
register.filter("localized", localize)
