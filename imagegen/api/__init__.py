"""The JSON API (/api/v1/…), built with django-ninja.

The OpenAPI schema (/api/v1/openapi.json) and the docs page (/api/v1/docs) are generated from
the operations and the schemas in imagegen/api/schemas.py, so they cannot drift from what is
served. A caller is a script sending `Authorization: Bearer tf_…` with a key made on
/accounts/keys/ (or `manage.py create_api_key`), or a signed-in browser (its session, with
Django's CSRF check on every write): auth.py. Every answer is JSON, errors included:
{"error": {"code": "…", "message": "…", …}} with a fitting status (errors.py, ERROR_CODES).
The operations, by resource: generations.py, uploads.py, account.py, catalogue.py.
"""

import copy
from pathlib import Path

from django.conf import settings
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger
from ninja.responses import Response as NinjaResponse

from .. import presenters
from ..forms import size_choices
from ..models import MAX_SEED, Generation
from ..providers import available_tasks
from ..tiers import primary_provider
from . import (
    account,
    catalogue,
    errors,
    generations,
    openapi,
    operations,
    trips,
    uploads,
    verify,
)
from .auth import ApiKey, Session
from .errors import ERROR_CODES, ApiError, error_response

__all__ = ["ApiError", "api", "error_response", "openapi_json"]

_table = "\n".join(
    f"| {status} | `{code}` | {when} |" for code, (status, when) in ERROR_CODES.items()
)


class TravelFitApi(NinjaAPI):
    def get_content_type(self):
        return operations.CONTENT_TYPE

    def get_openapi_operation_id(self, operation):
        return operation.view_func.__name__

    def get_openapi_schema(self, **kwargs):
        """ninja's schema, with what depends on this site (the create body held to what its
        provider, tiers and presets take; the upload's limits) and what the operations cannot
        say themselves: headers, examples, webhooks (imagegen.api.openapi)."""
        # A copy: the operations' openapi_extra is reused for every schema built.
        schema = copy.deepcopy(super().get_openapi_schema(**kwargs))
        create = schema["paths"]["/api/v1/generations"]["post"]
        flat = create["requestBody"]["content"]["application/json"]["schema"]
        _fit_create_body(flat)
        openapi.fit_choices(flat["properties"])
        tasks = [task for task in Generation.Task.values if task in available_tasks()]
        union, branches = openapi.create_body(flat, tasks)
        schema["components"]["schemas"].update(branches)
        create["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": union}},
        }
        schema["paths"]["/api/v1/uploads"]["post"]["requestBody"] = uploads.upload_body()
        openapi.document_headers(schema)
        openapi.add_examples(schema)
        openapi.webhooks(schema)
        return schema


def _fit_create_body(body):
    """Ranges the pydantic model cannot know (they are the provider's, GenerationForm's), and
    no property for a field the provider does not take (the API refuses it)."""
    capabilities = primary_provider().capabilities
    properties = body["properties"]
    max_length = settings.IMAGEGEN_MAX_PROMPT_LENGTH
    _constrain(properties["prompt"], {"minLength": 1, "maxLength": max_length})
    size = {"minimum": capabilities.min_size, "maximum": capabilities.max_size}
    if capabilities.min_size % capabilities.size_step == 0:
        size["multipleOf"] = capabilities.size_step
    else:
        size["enum"] = [value for value, _label in size_choices(capabilities)]
    ranges = {"width": size, "height": size, "seed": {"minimum": 0, "maximum": MAX_SEED}}
    if capabilities.steps:
        ranges["steps"] = dict(zip(("minimum", "maximum"), capabilities.steps, strict=True))
    if capabilities.guidance:
        ranges["guidance"] = dict(zip(("minimum", "maximum"), capabilities.guidance, strict=True))
    taken = {
        "negative_prompt": capabilities.negative_prompt,
        "seed": capabilities.seed,
        "steps": bool(capabilities.steps),
        "guidance": bool(capabilities.guidance),
    }
    for name, is_taken in taken.items():
        if not is_taken:
            del properties[name]
    for name, limits in ranges.items():
        if name in properties:
            _constrain(properties[name], limits)
    if "negative_prompt" in properties:
        _constrain(properties["negative_prompt"], {"maxLength": max_length})
    _constrain(properties["callback_url"], {"format": "uri"})


def _constrain(prop, limits):
    """Add `limits` to a property, or to the non-null branch of a nullable one."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    for branch in branches:
        branch.update(limits)


api = TravelFitApi(
    title="TravelFit API",
    version="1",
    description=Path(__file__).with_name("api.md").read_text().replace("{error_table}", _table),
    urls_namespace="api",
    renderer=operations.RENDERER,
    auth=[ApiKey(), Session()],
    # Swagger UI from ninja's static files and its separate init script: the site's strict CSP
    # holds on the docs page too (its inline styling is set through the DOM, which CSP allows).
    docs=Swagger(settings={"persistAuthorization": True, "validatorUrl": None}),
    docs_url="/docs",
)


errors.install(api)
# In this order in the schema, as they were when the API was one module.
for resource in (generations, account, uploads, catalogue):
    api.add_router("", resource.router)
# POST /verify: anyone checks an image for this site's marks.
api.add_router("/verify", verify.router)
# Trip lookbooks.
api.add_router("/trips", trips.router)


def openapi_json(request, **kwargs):
    """The schema (/api/v1/openapi.json), its `servers` the site's public address: SITE_URL
    when set, else the origin this request came to."""
    schema = api.get_openapi_schema(path_params=kwargs)
    schema["servers"] = [{"url": presenters.site_origin(request), "description": "This site."}]
    return NinjaResponse(schema)
