"""Idempotency-Key: a repeated POST gets the first answer, charged once; misuse gets 409."""

import datetime
import json
import threading
import time

import pytest
from django.db import connection, connections
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory
from django.utils import timezone

from imagegen import idempotency, services
from imagegen.idempotency import with_idempotency
from imagegen.models import Generation, IdempotencyRecord

PATH = "/api/v1/generations"


def post(body, key="order-42", path=PATH):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return RequestFactory().post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


class Submit:
    """A view's work: submit a generation (charging quota) and answer 201 with a Location."""

    def __init__(self, user, status=201):
        self.user, self.status, self.calls = user, status, 0

    def __call__(self, request):
        def compute():
            self.calls += 1
            fields = json.loads(request.body)
            generation = services.submit_generation(
                user=self.user, prompt=fields["prompt"], width=64, height=64
            )
            response = JsonResponse({"id": str(generation.pk)}, status=self.status)
            response["Location"] = f"{PATH}/{generation.pk}"
            return response

        return compute


def used_today(user):
    return services.quota_for(user).day_used


def test_a_repeat_gets_the_first_answer_and_is_charged_once(user):
    submit = Submit(user)
    first = with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    again = with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    assert submit.calls == 1
    assert (again.status_code, again.content) == (201, first.content)
    assert again["Location"] == first["Location"]
    assert again["Content-Type"] == "application/json"
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Generation.objects.count() == 1
    assert used_today(user) == 1


def test_the_same_key_with_another_body_is_a_conflict(user):
    submit = Submit(user)
    with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    other = post({"prompt": "Busan"})
    response = with_idempotency(other, user, submit(other))
    assert response.status_code == 409
    assert json.loads(response.content)["error"]["code"] == "idempotency_key_reused"
    assert submit.calls == 1


def test_the_same_json_object_with_its_keys_in_another_order_is_the_same_request(user):
    """Compared parsed: another order of keys, other spacing, is a retry, not a conflict."""
    submit = Submit(user)
    first_body = {"prompt": "Jeju", "seed": 7, "n": 1}
    first = with_idempotency(post(first_body), user, submit(post(first_body)))
    reordered = RequestFactory().post(
        PATH,
        data='{ "n": 1,\n  "seed": 7, "prompt": "Jeju" }',
        content_type="application/json",
        headers={"Idempotency-Key": "order-42"},
    )
    again = with_idempotency(reordered, user, submit(reordered))
    assert submit.calls == 1
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Idempotent-Replayed"] == "true"
    # A value that differs is still another request, nested ones included.
    changed = with_idempotency(post({**first_body, "seed": 8}), user, submit(post(first_body)))
    assert changed.status_code == 409


def test_json_the_api_would_refuse_is_compared_as_sent(user):
    """A key named twice is not read as its last value: it is not the same as that object."""
    submit = Submit(user)
    with_idempotency(post({"prompt": "b"}), user, submit(post({"prompt": "b"})))
    twice = RequestFactory().post(
        PATH,
        data='{"prompt": "a", "prompt": "b"}',
        content_type="application/json",
        headers={"Idempotency-Key": "order-42"},
    )
    assert idempotency.fingerprint(twice) != idempotency.fingerprint(post({"prompt": "b"}))


def test_the_same_key_on_another_path_is_a_conflict(user):
    submit = Submit(user)
    with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    elsewhere = post({"prompt": "Jeju"}, path="/api/v1/other")
    response = with_idempotency(elsewhere, user, submit(elsewhere))
    assert json.loads(response.content)["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_user(user, make_user):
    bob = make_user("bob")
    alices, bobs = Submit(user), Submit(bob)
    with_idempotency(post({"prompt": "Jeju"}), user, alices(post({"prompt": "Jeju"})))
    response = with_idempotency(post({"prompt": "Jeju"}), bob, bobs(post({"prompt": "Jeju"})))
    assert response.status_code == 201
    assert (alices.calls, bobs.calls) == (1, 1)


def test_without_the_header_every_request_runs(user):
    submit = Submit(user)
    for _ in range(2):
        request = post({"prompt": "Jeju"}, key=None)
        assert with_idempotency(request, user, submit(request)).status_code == 201
    assert submit.calls == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_refused(user, key):
    submit = Submit(user)
    request = post({"prompt": "Jeju"}, key=key)
    response = with_idempotency(request, user, submit(request))
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "idempotency_key_invalid"
    assert submit.calls == 0


def test_after_24_hours_the_key_runs_again(user):
    submit = Submit(user)
    with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    IdempotencyRecord.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert submit.calls == 2


def test_records_are_kept_for_a_day_and_purged_by_the_recovery_sweep(user):
    submit = Submit(user)
    with_idempotency(post({"prompt": "Jeju"}), user, submit(post({"prompt": "Jeju"})))
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at == datetime.timedelta(hours=24)
    services.recover_stuck()
    assert IdempotencyRecord.objects.count() == 1
    services.recover_stuck(now=timezone.now() + datetime.timedelta(hours=24, seconds=1))
    assert not IdempotencyRecord.objects.exists()


def test_a_repeat_while_the_first_is_being_answered_is_told_to_wait(user):
    submit = Submit(user)
    request = post({"prompt": "Jeju"})
    IdempotencyRecord.objects.create(
        user=user,
        key="order-42",
        fingerprint=idempotency.fingerprint(request),
        expires_at=timezone.now() + idempotency.IDEMPOTENCY_TTL,
    )
    response = with_idempotency(request, user, submit(request))
    assert response.status_code == 409
    assert json.loads(response.content)["error"]["code"] == "idempotency_key_in_use"
    assert response["Retry-After"] == "1"
    assert submit.calls == 0


def test_a_marker_left_by_a_request_that_died_is_taken_over(user):
    submit = Submit(user)
    request = post({"prompt": "Jeju"})
    long_ago = timezone.now() - idempotency.IN_PROGRESS_TIMEOUT - datetime.timedelta(seconds=1)
    IdempotencyRecord.objects.create(
        user=user,
        key="order-42",
        fingerprint=idempotency.fingerprint(request),
        locked_at=long_ago,
        expires_at=timezone.now() + idempotency.IDEMPOTENCY_TTL,
    )
    assert with_idempotency(request, user, submit(request)).status_code == 201
    assert submit.calls == 1
    assert IdempotencyRecord.objects.get().response_status == 201


def test_a_server_error_is_not_kept(user):
    request = post({"prompt": "Jeju"})
    answers = iter([HttpResponse("oops", status=500), HttpResponse("fine", status=201)])
    assert with_idempotency(request, user, lambda: next(answers)).status_code == 500
    assert not IdempotencyRecord.objects.exists()
    assert with_idempotency(request, user, lambda: next(answers)).status_code == 201


def test_a_client_error_is_kept_and_replayed(user):
    request = post({"prompt": ""})
    calls = []

    def invalid():
        calls.append(1)
        return JsonResponse({"error": {"code": "invalid"}}, status=400)

    assert with_idempotency(request, user, invalid).status_code == 400
    assert with_idempotency(request, user, invalid).status_code == 400
    assert len(calls) == 1


def test_an_exception_rolls_back_the_work_and_frees_the_key(user):
    request = post({"prompt": "Jeju"})

    def crash():
        services.submit_generation(user=user, prompt="Jeju", width=64, height=64)
        raise RuntimeError("the view broke")

    with pytest.raises(RuntimeError):
        with_idempotency(request, user, crash)
    assert not Generation.objects.exists()
    assert used_today(user) == 0
    assert not IdempotencyRecord.objects.exists()
    submit = Submit(user)
    assert with_idempotency(request, user, submit(request)).status_code == 201


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers; PostgreSQL runs them"
)
def test_concurrent_repeats_run_the_work_once(transactional_db, user):
    """Eight threads send the same key at once: one does the work, the rest wait or replay."""
    calls = []
    start = threading.Barrier(8)
    statuses = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        generation = services.submit_generation(user=user, prompt="Jeju", width=64, height=64)
        return JsonResponse({"id": str(generation.pk)}, status=201)

    def client():
        try:
            start.wait()
            request = post({"prompt": "Jeju"})
            response = with_idempotency(request, user, compute)
            statuses.append((response.status_code, response.has_header("Idempotent-Replayed")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    # One ran; the others were told the key is in use, or (if they came late) got its answer.
    assert statuses.count((201, False)) == 1
    assert set(statuses) <= {(201, False), (201, True), (409, False)}
    assert len(statuses) == 8
    assert Generation.objects.count() == 1
    assert used_today(user) == 1
