"""What a worker does with a queued generation: claim it, keep a heartbeat, translate the prompt,
ask the providers in turn (retries, fallbacks, cool-downs) and store the checked image."""

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import secrets
import threading
import time
import traceback
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import F, PositiveIntegerField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_q.exceptions import TimeoutException

from lib import request_id

from .. import chains, metrics, safety, translation, webhooks
from ..images import ImageRejected, check_image
from ..marks import marking
from ..marks.credentials import SigningError
from ..marks.signing_key import SigningKeyError
from ..models import (
    MAX_SEED,
    PHOTOS_OF_TASK,
    Generation,
)
from ..providers import get_provider
from ..providers.base import (
    TEXT,
    BadOutput,
    GenerationRequest,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    TaskUnsupported,
    Unavailable,
    adapt,
    redact,
)
from ..tiers import tier_of
from .budget import over_budget, record_spending
from .cooldowns import active_cooldown, start_cooldown
from .generations import dispatch_waiting, fail_generation
from .marks import (
    MARK_ID_TRIES,
    MarkIdsExhausted,
    draw_mark_id,
    labels_files,
    make_labelled_copy,
    provenance_for,
    reserve_mark_id,
)

logger = logging.getLogger(__name__)


def _claim(generation_id):
    """Move a queued generation to running under a new claim; None if another worker has it
    or it is over.

    The claim says whose work it is: once recover_stuck() has given a silent worker's
    generation to another, the first worker's late result or failure is not recorded. The
    same UPDATE draws the watermark's id (kept if it has one), so that no write waits for the
    database between the provider's answer and the result's; an id another generation holds
    is drawn again, and after MARK_ID_TRIES the claim goes without (reserve_mark_id says why).
    """
    claim = uuid.uuid4()
    now = timezone.now()
    claimed = Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED)
    values = dict(status=Generation.Status.RUNNING, started_at=now, heartbeat_at=now, claim=claim)
    for _ in range(MARK_ID_TRIES):
        try:
            with transaction.atomic():
                mark_id = Coalesce(
                    F("mark_id"), Value(draw_mark_id()), output_field=PositiveIntegerField()
                )
                return claim if claimed.update(**values, mark_id=mark_id) else None
        except IntegrityError:
            continue  # that id is another generation's
    return claim if claimed.update(**values) else None


@contextlib.contextmanager
def _heartbeat(generation_id, claim):
    """While the block runs, say every IMAGEGEN_HEARTBEAT_SECONDS that this worker is alive.

    A thread of the worker process writes `heartbeat_at`; when the process dies (SIGKILL, out
    of memory, the machine gone) the heartbeats stop and recover_stuck() puts the generation
    back in the queue. Inside a transaction (tests, sync mode) another connection could not see
    the claim, so there is nothing to beat for.
    """
    if transaction.get_connection().in_atomic_block:
        yield
        return
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(settings.IMAGEGEN_HEARTBEAT_SECONDS):
                try:
                    Generation.objects.filter(
                        pk=generation_id, claim=claim, status=Generation.Status.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:
                    logger.warning("generation %s: heartbeat not saved: %s", generation_id, exc)
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"heartbeat-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def parameters_text(
    request: GenerationRequest,
    *,
    provider: str,
    model: str,
    size: tuple[int, int] | None = None,
    original_prompt: str = "",
    original_negative_prompt: str = "",
) -> str:
    """The parameters sent, in the `parameters` chunk layout other image apps write.

    `Size` is the image's own (`size`, else the size asked for): an edit or a try-on is the
    size its provider made it, which the generation records too.

    The prompts are what the model got; the user's own words, when they were translated, are
    quoted fields of the last line (A1111 readers take quoted values there), not lines of their
    own, which those readers would take for part of the prompt.
    """
    width, height = size or (request.width, request.height)
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    fields = [
        ("Steps", request.steps),
        ("CFG scale", request.guidance),
        ("Seed", request.seed),
        ("Size", f"{width}x{height}"),
        ("Model", model),
        ("Provider", provider),
        ("Original prompt", _quoted(original_prompt)),
        ("Original negative prompt", _quoted(original_negative_prompt)),
    ]
    lines.append(", ".join(f"{name}: {value}" for name, value in fields if value is not None))
    return "\n".join(lines)


def _quoted(text):
    return json.dumps(text, ensure_ascii=False) if text else None


def _marked(generation, *, provider, request, result, image):
    """The marked result to store: the provider's pixels (decoded once, by the image check) with
    the PNG `parameters` chunk, then the invisible watermark, then the signed content
    credentials (imagegen/marks/, in that order)."""
    # The user's own words too, where the model got a translation of them.
    originals = {
        "original_prompt": generation.prompt if generation.prompt_en else "",
        "original_negative_prompt": (
            generation.negative_prompt if generation.negative_prompt_en else ""
        ),
    }
    text = parameters_text(
        request, provider=provider.name, model=result.model, size=image.size, **originals
    )
    mark_id = generation.mark_id or reserve_mark_id(generation.pk)
    generation.mark_id = mark_id
    provenance = provenance_for(
        generation,
        provider=provider.name,
        model=result.model,
        photos={"source_image": request.source, "garment_image": request.garment},
        edited=chains.source_result(generation) if chains.edits_a_result(generation) else None,
        when=timezone.now(),
    )
    content_type = f"image/{'jpeg' if image.format == 'JPEG' else image.format.lower()}"
    return marking.mark_decoded(
        image.decoded,
        content_type,
        mark_id=mark_id,
        provenance=provenance,
        text={"parameters": text} if text else None,
    )


def _check_and_mark(generation, *, provider, request, result, image):
    """(safety verdict, marked image): the marks' CPU is spent while the thumbnail is made and
    the safety check waits for its remote classifier (a thread each; both release the GIL in
    their long parts)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="safety") as pool:
        bound = request_id.current()

        def look():
            with request_id.bound(bound):
                return safety.check(image.thumbnail, provider_flag=result.provider_flag)

        verdict = pool.submit(look)
        marked = _marked(generation, provider=provider, request=request, result=result, image=image)
        return verdict.result(), marked


def _store(generation, *, claim, provider, request, result, image, data, notes, seconds, verdict):
    """Keep the checked and marked image and record the generation done, or held for review
    when the safety check (`verdict`) says so: stored either way, shown only once it is
    succeeded."""
    generation.image.save(f"image.{image.extension}", ContentFile(data), save=False)
    generation.thumbnail.save("thumb.webp", ContentFile(image.thumbnail), save=False)
    cost, finished_at = provider.cost(seconds), timezone.now()
    with transaction.atomic():
        stored = Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING, claim=claim
        ).update(
            status=Generation.Status.HELD if verdict.hold else Generation.Status.SUCCEEDED,
            safety_scores=verdict.scores or None,
            safety_note=verdict.note,
            image=generation.image.name,
            thumbnail=generation.thumbnail.name,
            actual_seed=request.seed,
            # An edit or a try-on is the size the provider made it.
            width=image.size[0],
            height=image.size[1],
            provider=provider.name,
            model_name=result.model,
            adaptations="\n".join(notes),
            estimated_cost=cost,
            finished_at=finished_at,
        )
        if stored:
            record_spending(cost, finished_at=finished_at)
            webhooks.generation_ended(generation.pk)
    if not stored:
        # Someone else settled it (a recovery sweep, an admin) while we worked: keep theirs.
        generation.image.delete(save=False)
        generation.thumbnail.delete(save=False)
    else:
        dispatch_waiting(user_id=generation.owner_id)
    return bool(stored)


def _label(generation, marked):
    """Make the labelled copy downloads and shares serve, now that the result is recorded (a
    download that comes first makes it itself), from the `marked` pixels still in memory."""
    try:
        generation.refresh_from_db()
        make_labelled_copy(generation, marked=marked)
    except (OSError, SigningError, SigningKeyError, ValueError) as exc:
        logger.warning("generation %s: labelled copy not made now: %s", generation.pk, exc)


def _expected_size(request):
    """A text image must be the size asked for; an edit or a try-on comes at the provider's."""
    return (request.width, request.height) if request.task == TEXT else None


def _ask(provider, request, *, generation_id, deadline):
    """Ask one provider, retrying with backoff while its failure says a retry can help.

    Returns (ProviderResult, image, seconds the successful call took) or the last
    ProviderError.
    """
    retries = settings.IMAGEGEN_RETRIES
    for attempt in range(retries + 1):
        Generation.objects.filter(pk=generation_id).update(attempts=F("attempts") + 1)
        started = time.monotonic()
        try:
            result = provider.generate(request)
            image = check_image(result.image, expected_size=_expected_size(request))
            seconds = time.monotonic() - started
            metrics.PROVIDER_SECONDS.labels(provider.name, "ok").observe(seconds)
            return result, image, seconds
        except ImageRejected as exc:
            error = BadOutput(exc.detail, user_message=exc.user_message)
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a bug or an unmapped library error: keep the worker going
            error = ProviderError("Unexpected error:\n" + "".join(traceback.format_exception(exc)))
            # With its traceback (the log formatter redacts it), and to Sentry when it is on.
            logger.exception(
                "generation %s: %s raised an unexpected error", generation_id, provider.name
            )
        metrics.PROVIDER_SECONDS.labels(provider.name, error.failure_class).observe(
            time.monotonic() - started
        )
        logger.warning(
            "generation %s: %s attempt %d failed (%s): %s",
            generation_id,
            provider.name,
            attempt + 1,
            error.failure_class,
            error.detail.splitlines()[0] if error.detail else "",
        )
        if not error.retryable or attempt == retries:
            return error
        delay = error.retry_after
        if delay is None:
            delay = settings.IMAGEGEN_RETRY_BACKOFF * 2**attempt
        delay = min(delay, settings.IMAGEGEN_RETRY_MAX_WAIT)
        if time.monotonic() + delay > deadline:
            return error
        time.sleep(delay)
    return error


def run_generation(generation_id: uuid.UUID | str) -> None:
    """Make the image for a queued generation: the body of the background task.

    Idempotent: a second delivery of the same task finds the generation already claimed and
    returns. Providers are asked in its tier's order, skipping any that is cooling
    down; each is retried while its failure is transient; a failure that says the next one
    may help moves on. When none serves, the generation fails with the last failure's
    message and its unit of quota goes back.
    """
    # Its log lines carry the id of the request that queued it (lib.request_id).
    origin = Generation.objects.filter(pk=generation_id).values_list("request_id", flat=True)
    with request_id.bound(origin.first() or ""):
        _run(generation_id)


def _run(generation_id):
    claim = _claim(generation_id)
    if claim is None:
        logger.info("generation %s is not queued any more; nothing to do", generation_id)
        return
    with _heartbeat(generation_id, claim):
        try:
            _make(generation_id, claim)
        except TimeoutException:
            # django-q2 stops a task at IMAGEGEN_TASK_TIMEOUT: record it, not leave it running.
            fail_generation(
                generation_id,
                user_message=gettext_noop("The image took too long to make. Please try again."),
                detail="Stopped by the task queue's time limit (IMAGEGEN_TASK_TIMEOUT).",
                failure_class="unavailable",
                claim=claim,
            )
            raise


def _translate(generation, claim):
    """(prompt, negative prompt, admins' detail) to send: in English when they have Korean in
    them and translation is on, unless the user asked for their words as they are.

    What was sent, the user's note and, when a translation failed, its detail (in
    error_detail, for admins) are recorded on the generation; a failure never stops it.
    """
    outcome = translation.translate_prompts(
        generation.prompt, generation.negative_prompt, wanted=generation.translate_prompt
    )
    if outcome is None:
        return generation.prompt, generation.negative_prompt, ""
    generation.prompt_en = outcome.prompt_en
    generation.negative_prompt_en = outcome.negative_prompt_en
    generation.translation_note = outcome.note
    Generation.objects.filter(pk=generation.pk, claim=claim).update(
        prompt_en=outcome.prompt_en,
        negative_prompt_en=outcome.negative_prompt_en,
        translation_note=outcome.note,
        error_detail=redact(outcome.detail),
    )
    return outcome.prompt, outcome.negative_prompt, outcome.detail


def _fail_unmarked(generation_id, claim, exc):
    """A result that cannot carry its marks is not kept: the generation fails, for admins."""
    fail_generation(
        generation_id,
        user_message=gettext_noop(
            "The image could not be marked as made by AI, so it was not kept. "
            "The site's administrators have been told."
        ),
        detail=f"Marking failed: {exc}",
        failure_class="misconfigured",
        claim=claim,
    )
    logger.error("generation %s: marking failed: %s", generation_id, exc)


def _make(generation_id, claim):
    """Ask the providers in turn for a claimed generation, and record what came of it."""
    # Stop early enough to record the outcome before django-q2's own limit kills the task.
    deadline = time.monotonic() + settings.IMAGEGEN_TASK_TIMEOUT * 0.9
    generation = Generation.objects.select_related(
        "source_image", "garment_image", "parent", "chain_root"
    ).get(pk=generation_id)
    try:
        asked, translation_detail = _request_for(generation, claim)
    except PhotoGone as exc:
        fail_generation(
            generation_id,
            user_message=gettext_noop(
                "The photo for this picture was deleted before it could be made."
            ),
            detail=str(exc),
            failure_class="misconfigured",
            claim=claim,
        )
        return
    skip_paid = over_budget()
    failures = []
    for provider in _providers_for(generation):
        skipped = _skip_reason(provider, over_budget=skip_paid)
        if skipped:
            failures.append((provider.name, skipped))
            continue
        if asked.task not in provider.tasks():
            failures.append(
                (provider.name, TaskUnsupported(f"skipped: {provider.name} cannot do {asked.task}"))
            )
            continue
        if time.monotonic() > deadline:
            break
        try:
            request, notes = adapt(asked, provider.capabilities, provider.name)
        except ProviderError as exc:
            failures.append((provider.name, exc))
            continue
        outcome = _ask(provider, request, generation_id=generation_id, deadline=deadline)
        if not isinstance(outcome, ProviderError):
            result, image, seconds = outcome
            request = dataclasses.replace(request, seed=result.seed or request.seed)
            # Before anyone can see it: a flagged image (or one the check could not look at,
            # with IMAGEGEN_SAFETY_ON_ERROR=hold, or one the provider itself flagged) is kept
            # for a person's review. The classifier gets the thumbnail: it looks at 224 px
            # anyway, and a 1.5 MB upload per image would cost more than the look. Meanwhile
            # the result gets its marks; one that cannot be marked is not stored.
            try:
                verdict, marked = _check_and_mark(
                    generation, provider=provider, request=request, result=result, image=image
                )
            except (SigningError, SigningKeyError, MarkIdsExhausted) as exc:
                _fail_unmarked(generation_id, claim, exc)
                return
            stored = _store(
                generation,
                claim=claim,
                provider=provider,
                request=request,
                result=result,
                image=image,
                data=marked.data,
                # Providers passed over for the task, for admins (the generation's "Adjusted").
                notes=[exc.detail for _name, exc in failures if isinstance(exc, TaskUnsupported)]
                + notes,
                seconds=seconds,
                verdict=verdict,
            )
            logger.info("generation %s done by %s", generation_id, provider.name)
            if stored and labels_files():
                _label(generation, marked)
            return
        failures.append((provider.name, outcome))
        if outcome.cooldown:
            start_cooldown(provider.name, outcome.cooldown, outcome.detail)
        if not outcome.try_next:
            break
    _fail_after(generation_id, claim, failures, translation_detail)


class PhotoGone(Exception):
    """A photo the generation needs is no longer stored."""


def _photo_bytes(generation, field):
    """The stored, metadata-free bytes of the generation's photo in `field` (None if it has
    none), or PhotoGone."""
    upload = getattr(generation, field)
    if upload is None:
        if field in PHOTOS_OF_TASK[generation.task]:
            raise PhotoGone(f"The {field} of this {generation.task} was deleted.")
        return None
    try:
        with upload.image.open("rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise PhotoGone(f"The {field} file {upload.image.name} is missing.") from exc


def _result_bytes(result):
    """The stored bytes of the result an edit again starts from (as stored: already clean and
    checked, with its marks), or PhotoGone when it was deleted since."""
    if result is None or not result.image:
        raise PhotoGone("The picture this edit starts from was deleted.")
    try:
        with result.image.open("rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise PhotoGone(f"The image file {result.image.name} is missing.") from exc


def _request_for(generation: Generation, claim) -> tuple[GenerationRequest, str]:
    """What the providers are asked (the prompt translated when it should be, a random seed
    when none was given, the photos for an edit or a try-on), and the translation's admin
    detail ("" when nothing went wrong). Raises PhotoGone when a photo it needs is gone."""
    if chains.edits_a_result(generation):
        source = _result_bytes(chains.source_result(generation))
    else:
        source = _photo_bytes(generation, "source_image")
    garment = _photo_bytes(generation, "garment_image")
    prompt, negative_prompt, translation_detail = _translate(generation, claim)
    if generation.from_original:
        prompt = chains.joined_instructions(generation, prompt)
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=generation.width,
        height=generation.height,
        seed=generation.seed if generation.seed is not None else secrets.randbelow(MAX_SEED + 1),
        steps=generation.steps,
        guidance=generation.guidance,
        task=generation.task,
        source=source,
        garment=garment,
    )
    return request, translation_detail


def _providers_for(generation: Generation) -> list:
    """The providers to ask, in order: the one the generation names, or its tier's chain
    (fallback never leaves the tier the user chose and paid for)."""
    if generation.only_provider:
        return [get_provider(generation.only_provider)]
    return [get_provider(name) for name in tier_of(generation.tier).providers]


def _skip_reason(provider, *, over_budget: bool) -> ProviderError | None:
    """Why a provider is not asked this time (the budget is spent and it is paid, or it is
    cooling down), as the failure recorded for it; None when it may be asked."""
    if over_budget and provider.paid:
        return OutOfQuota(
            "skipped: the monthly budget (IMAGEGEN_MONTHLY_BUDGET_USD) is spent",
            user_message=gettext_noop("The site has used this month's budget for paid images."),
        )
    cooldown = active_cooldown(provider.name)
    if cooldown:
        return OutOfQuota(
            f"skipped: cooling down until {cooldown.until:%H:%M:%S} UTC ({cooldown.reason})"
        )
    return None


def _fail_after(generation_id, claim, failures, translation_detail):
    """Fail the generation with the last failure's message and every failure in the detail;
    its quota goes back unless the provider refused the prompt itself."""
    if not failures:
        failures.append(("all", Unavailable("No time was left to ask any provider.")))
    last_name, last = failures[-1]
    fail_generation(
        generation_id,
        user_message=last.user_message,
        failure_class=last.failure_class,
        provider=last_name if last_name != "all" else "",
        detail="\n\n".join(
            ([translation_detail] if translation_detail else [])
            + [f"{name} ({exc.failure_class}): {exc.detail}" for name, exc in failures]
        ),
        # A prompt the provider refused is the request's own doing; anything else is ours.
        refund_quota=not isinstance(last, PromptRejected),
        claim=claim,
    )
