"""Site-wide rules on requests and answers: the API's language, and no caching of signed-in
pages."""

from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation.trans_real import parse_accept_lang_header

API_PREFIX = "/api/"
API_DEFAULT_LANGUAGE = "en"


def language_asked_for(header: str) -> str:
    """The first of the site's languages the Accept-Language header names, by preference;
    English when it names none (curl and most HTTP libraries send no header at all)."""
    for code, _quality in parse_accept_lang_header(header or ""):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return API_DEFAULT_LANGUAGE


class ApiLanguageMiddleware:
    """The JSON API answers in English unless the request's Accept-Language asks for Korean.

    A script's answers must not change with the site's LANGUAGE_CODE, a language cookie or a
    profile setting it never sees. Goes after LocaleMiddleware and UserPreferencesMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            language = language_asked_for(request.headers.get("Accept-Language", ""))
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


class SignedInNoStoreMiddleware:
    """Pages made for a signed-in user are kept by no cache (`Cache-Control: private,
    no-store`): not by a proxy, and not by the browser's back button after logging out on a
    shared computer. Answers that say how to cache themselves (static files, images) keep it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not response.has_header("Cache-Control")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response
