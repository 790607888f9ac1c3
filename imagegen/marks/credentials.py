"""Content credentials (C2PA): sign a result's final bytes, and read any image's back.

Signed with c2pa-python, the Content Authenticity Initiative's own library. The manifest says:
- one action: `c2pa.created` for a text-to-image result, `c2pa.edited` for an edit or a
  try-on (after `c2pa.opened` of its parent, as C2PA wants a first action that creates or
  opens), with the IPTC digital source type (`trainedAlgorithmicMedia`, or
  `compositeWithTrainedAlgorithmicMedia` when a photo went in), the model as the software
  agent, the time, and the provider, model and the model's licence as the action's parameters;
- the generator: TravelFit and its version (pyproject.toml);
- ingredients: a user's photo by its SHA-256 and a title only, never its pixels (added from the
  definition, not from the photo's bytes, so the library makes no thumbnail of it); a parent
  (a labelled copy's unlabelled original) from its bytes, so its own manifest comes along;
- the prompt only when the owner asked for it; never a user's name or id.
The manifest's thumbnail is C2PA_THUMBNAIL_SIZE px on its longer side, as JPEG (the library's
default is 1024 px: 62 ms and up to 878 KB per PNG measured; 256 px costs 4–18 ms). A caller that
holds the decoded pixels makes it itself (`thumbnail_of`, about 1 ms) and hands it to `sign`,
which then spares the library decoding the whole image again (12 of the 16 ms of a 1024² PNG).
"""

import datetime
import functools
import hashlib
import io
import json
import tomllib
from dataclasses import dataclass, field

import c2pa
from django.conf import settings
from PIL import Image

from . import signing_key

CREATED, OPENED, EDITED = "c2pa.created", "c2pa.opened", "c2pa.edited"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")
GENERATOR = "TravelFit"
PARENT = "parent"
THUMBNAIL = "thumbnail.jpg"
# Reading an uploaded file must never make this server fetch anything a stranger chose.
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


@dataclass(frozen=True)
class Ingredient:
    """An image that went into a result. `data` is set only for a parent that carries its own
    manifest (an image this site made); a user's photo is its hash and a title, no bytes."""

    title: str
    content_type: str
    sha256: str
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def photo(cls, data: bytes, *, title: str, content_type: str) -> "Ingredient":
        """A user's photo: named by its SHA-256 and `title`; its bytes stay out."""
        return cls(title=title, content_type=content_type, sha256=hashlib.sha256(data).hexdigest())

    @classmethod
    def parent(cls, data: bytes, *, title: str, content_type: str) -> "Ingredient":
        """An image of this site's that a new one was made from (with its manifest)."""
        digest = hashlib.sha256(data).hexdigest()
        return cls(title=title, content_type=content_type, sha256=digest, data=data)


@dataclass(frozen=True)
class Provenance:
    """What a result's manifest says. `photos` went in (edit, try-on); `parent` is the image
    this one was made from; `prompt` is empty unless the owner asked to include it."""

    provider: str
    model: str
    when: datetime.datetime
    photos: tuple[Ingredient, ...] = ()
    parent: Ingredient | None = None
    model_licence: str = ""
    prompt: str = ""
    title: str = ""
    description: str = ""

    @property
    def action(self) -> str:
        """c2pa.edited when something went in (a photo, a parent), else c2pa.created."""
        return EDITED if self.photos or self.parent else CREATED

    @property
    def digital_source_type(self) -> str:
        """The IPTC term: composite with AI media when something went in, else AI media."""
        return COMPOSITE if self.photos or self.parent else TRAINED


@dataclass(frozen=True)
class CredentialsReport:
    """What an image's content credentials say, for /verify. `validation_state` is the
    library's: Valid (intact, signer not on a trust list), Trusted, or Invalid."""

    present: bool
    valid: bool = False
    validation_state: str = ""
    signed_here: bool = False
    signer: str = ""
    generator: str = ""
    time: str = ""
    action: str = ""
    digital_source_type: str = ""
    ingredients: tuple[dict, ...] = ()
    failures: tuple[str, ...] = ()
    error: str = ""


class SigningError(Exception):
    """The image could not be signed; the message says why (never a secret)."""


def travelfit_version() -> str:
    """TravelFit's version from pyproject.toml ("unknown" where the file is not shipped)."""
    return _version(str(settings.BASE_DIR / "pyproject.toml"))


@functools.lru_cache(maxsize=2)
def _version(path):
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def sign(
    data: bytes, content_type: str, provenance: Provenance, *, thumbnail: bytes | None = None
) -> bytes:
    """`data` (PNG, JPEG or WebP) with a signed manifest of `provenance` embedded. The manifest's
    thumbnail is `thumbnail` (JPEG bytes, from `thumbnail_of` the same pixels) when given, else
    the library's own of `data`."""
    if content_type not in CONTENT_TYPES:
        raise SigningError(f"Cannot sign {content_type!r}: only {', '.join(CONTENT_TYPES)}.")
    identity = signing_key.signing_identity()
    definition = manifest_definition(content_type, provenance)
    library_thumbnail = settings.C2PA_THUMBNAIL_SIZE
    if thumbnail is not None:
        definition["thumbnail"] = {"format": "image/jpeg", "identifier": THUMBNAIL}
        library_thumbnail = 0
    out = io.BytesIO()
    try:
        with (
            c2pa.Context.from_json(_builder_settings(library_thumbnail)) as context,
            c2pa.Builder(definition, context=context) as builder,
            _signer(identity) as signer,
        ):
            if thumbnail is not None:
                builder.add_resource(THUMBNAIL, io.BytesIO(thumbnail))
            if provenance.parent is not None:
                parent = provenance.parent
                builder.add_ingredient(
                    _ingredient(parent, "parentOf", PARENT),
                    parent.content_type,
                    io.BytesIO(parent.data),
                )
            builder.sign(signer, content_type, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningError(f"c2pa could not sign the image: {exc}") from exc
    return out.getvalue()


def thumbnail_of(image) -> bytes | None:
    """The manifest's thumbnail of a decoded PIL `image`: JPEG, C2PA_THUMBNAIL_SIZE px on its
    longer side (never larger than the image), or None when the setting is 0 (no thumbnail)."""
    size = settings.C2PA_THUMBNAIL_SIZE
    if not size:
        return None
    scale = min(1.0, size / max(image.size))
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: a whole-factor box reduce first, then a bicubic pass over what is left.
    small = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    if small.mode != "RGB":
        small = small.convert("RGB")
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def manifest_definition(content_type: str, provenance: Provenance) -> dict:
    """The manifest's definition for c2pa.Builder (the photos are in it; a parent is added
    from its bytes)."""
    version = travelfit_version()
    parameters = {"provider": provenance.provider, "model": provenance.model}
    if provenance.model_licence:
        parameters["model_licence"] = provenance.model_licence
    if provenance.prompt:
        parameters["prompt"] = provenance.prompt
    main = {
        "action": provenance.action,
        "when": provenance.when.astimezone(datetime.UTC).isoformat(timespec="seconds"),
        "digitalSourceType": provenance.digital_source_type,
        "softwareAgent": {"name": provenance.model or GENERATOR},
        "parameters": parameters,
    }
    if provenance.description:
        main["description"] = provenance.description
    ingredients = [
        _ingredient(photo, "componentOf", f"photo-{number}")
        for number, photo in enumerate(provenance.photos)
    ]
    actions = [main]
    if provenance.action == EDITED:
        opened = PARENT if provenance.parent else ingredients[0]["label"]
        actions.insert(0, {"action": OPENED, "parameters": {"ingredientIds": [opened]}})
        if provenance.parent is None:  # the first photo is what was edited
            ingredients[0]["relationship"] = "parentOf"
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": version}],
        "title": provenance.title or f"TravelFit image.{content_type.split('/')[1]}",
        "format": content_type,
        "ingredients": ingredients,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }


def _ingredient(ingredient, relationship, label):
    return {
        "title": ingredient.title,
        "format": ingredient.content_type,
        "relationship": relationship,
        # Pairs the ingredient with the action that names it; not written into the manifest.
        "label": label,
        "metadata": {"sha256": ingredient.sha256},
    }


@functools.lru_cache(maxsize=4)
def _builder_settings(thumbnail_size):
    thumbnail = {"enabled": thumbnail_size > 0, "long_edge": max(thumbnail_size, 1)}
    thumbnail["format"] = "jpeg"  # the library would keep WebP's own: 6× larger
    return json.dumps({"builder": {"thumbnail": thumbnail}, "verify": _OFFLINE})


def _signer(identity):
    info = c2pa.C2paSignerInfo(identity.algorithm, identity.chain, identity.private_key, None)
    return c2pa.Signer.from_info(info)


def read(data: bytes, content_type: str, *, trust_anchors: bytes = b"") -> CredentialsReport:
    """What the content credentials in `data` say, checked. `trust_anchors` (PEM) are
    trusted besides the library's own list. Never fetches anything."""
    # An empty user_anchors string makes the library fail every signature check: leave it out.
    trust = {"trust": {"user_anchors": trust_anchors.decode()}} if trust_anchors else {}
    try:
        reader = _reader(data, content_type, trust)
        if reader is None:
            return CredentialsReport(present=False)
        with reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return CredentialsReport(present=False, error=_error_name(exc))
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    state = store.get("validation_state", "")
    main = _main_action(manifest)
    signature = manifest.get("signature_info", {})
    return CredentialsReport(
        present=True,
        valid=state in ("Valid", "Trusted"),
        validation_state=state,
        signed_here=state != "Invalid" and _signed_here(data, content_type, signature),
        signer=_signer_name(signature),
        generator=_generator(manifest),
        time=main.get("when", ""),
        action=main.get("action", ""),
        digital_source_type=main.get("digitalSourceType", ""),
        ingredients=tuple(_ingredient_report(item) for item in manifest.get("ingredients", [])),
        failures=tuple(item["code"] for item in results.get("failure", [])),
    )


def _reader(data, content_type, configuration):
    configuration = {**configuration, "verify": _OFFLINE}
    with c2pa.Context.from_dict(configuration) as context:
        return c2pa.Reader.try_create(content_type, io.BytesIO(data), context=context)


def _signed_here(data, content_type, signature):
    """True when this site's own certificate signed it: the serial number matches, and the
    signature checks out against our chain alone (no other CA can vouch for that serial)."""
    try:
        identity = signing_key.signing_identity()
    except signing_key.SigningKeyError:
        return False
    if signature.get("cert_serial_number") != str(identity.serial_number):
        return False
    ours = {"trust": {"trust_anchors": identity.anchors.decode()}}
    try:
        reader = _reader(data, content_type, ours)
    except c2pa.C2paError:
        return False
    if reader is None:
        return False
    with reader:
        return reader.get_validation_state() == "Trusted"


def _main_action(manifest):
    """The action that says how the image came to be (created or edited), else the first."""
    actions = [
        action
        for assertion in manifest.get("assertions", [])
        if assertion.get("label", "").startswith("c2pa.actions")
        for action in assertion.get("data", {}).get("actions", [])
    ]
    for action in actions:
        if action.get("action") in (CREATED, EDITED):
            return action
    return actions[0] if actions else {}


def _signer_name(signature):
    names = [signature.get("common_name", ""), signature.get("issuer", "")]
    return ", ".join(name for name in names if name)


def _generator(manifest):
    for info in manifest.get("claim_generator_info", []):
        if info.get("name") and not info["name"].startswith("org.contentauth"):
            return " ".join(filter(None, [info["name"], info.get("version", "")]))
    return manifest.get("claim_generator", "")


def _ingredient_report(item):
    return {
        "title": item.get("title", ""),
        "relationship": item.get("relationship", ""),
        "sha256": (item.get("metadata") or {}).get("sha256", ""),
        "has_manifest": bool(item.get("active_manifest")),
    }


def _error_name(exc):
    """The library's kind of error (ManifestNotFound, Other…), without its text."""
    return type(exc).__name__.lstrip("_").removeprefix("C2pa") or "Error"
