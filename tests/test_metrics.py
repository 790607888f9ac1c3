"""Operating many machines: /metrics (Prometheus), request ids that follow a generation, JSON logs,
the Grafana dashboard built on the metrics."""

import json
import logging
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from imagegen import services
from imagegen.models import Generation, Quota, WebhookDelivery
from lib.redaction import JsonFormatter
from lib.request_id import RequestIdFilter, bound
from tests.conftest import ROOT, free_port, run_queued_generations, run_queued_tasks
from tests.fakes.webhook_receiver import start_receiver
from tests.test_production import request

TOKEN = "metrics-token-0123456789abcdef"
REQUEST = {"prompt": "Hahoe folk village, Andong", "width": 512, "height": 512}
DASHBOARD = ROOT / "deploy" / "grafana" / "travelfit.json"


def samples(text):
    """{(name, frozenset(labels)): value} of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped, name, **labels):
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape_text(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def read():
        answer = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/plain")
        return answer.content.decode()

    return read


@pytest.fixture
def scrape(scrape_text):
    return lambda: samples(scrape_text())


def test_metrics_need_the_token_or_staff(client, settings, admin_user):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 404
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 404  # a token is set: only the token
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200
    client.logout()
    assert client.get("/metrics").status_code == 404


def test_the_oldest_wait_counts_from_when_a_generation_was_last_queued(scrape, user):
    """As /health's: a generation the watchdog put back waits from then, not from its
    submission, so a requeue does not look like a stalled queue."""
    now = timezone.now()
    requeued = services.submit_generation(user=user, prompt="Seoraksan", width=512, height=512)
    Generation.objects.filter(pk=requeued.pk).update(
        created_at=now - timedelta(hours=1), enqueued_at=now - timedelta(seconds=20)
    )
    assert 20 <= value(scrape(), "travelfit_oldest_queued_seconds") < 600
    Generation.objects.filter(pk=requeued.pk).update(enqueued_at=None)
    assert value(scrape(), "travelfit_oldest_queued_seconds") >= 3600


def test_work_is_counted_with_labels_from_small_fixed_sets(
    scrape, user, client, settings, django_capture_on_commit_callbacks
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):  # as each request's commit would
        generations = services.submit_generations(user=user, count=2, **REQUEST)
    Quota.objects.filter(user=user).update(daily_limit=2)
    with pytest.raises(services.QuotaExceeded), django_capture_on_commit_callbacks(execute=True):
        services.submit_generation(user=user, **REQUEST)
    queued_now = scrape()
    run_queued_generations()
    client.force_login(user)
    client.get(reverse("imagegen:detail", args=[generations[0].pk]))
    after = scrape()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("travelfit_generations_submitted_total", task="text", tier="standard") == 2
    finished = {"status": "succeeded", "task": "text", "tier": "standard", "provider": "demo"}
    assert grew("travelfit_generations_finished_total", **finished) == 2
    assert grew("travelfit_generation_seconds_count", tier="standard") == 2
    assert grew("travelfit_provider_seconds_count", provider="demo", outcome="ok") == 2
    assert grew("travelfit_quota_refusals_total", period="day") == 1
    view = {"view": "imagegen:detail", "method": "GET", "status": "200"}
    assert grew("travelfit_http_requests_total", **view) == 1
    assert value(queued_now, "travelfit_generations_active", status="queued") == 2
    assert value(after, "travelfit_generations_active", status="queued") == 0
    # Never a user, a prompt or an id in a label.
    labels = " ".join(str(dict(key)) for _, key in after)
    for private in (user.username, "Hahoe", str(generations[0].pk), "/generations/"):
        assert private not in labels


def test_a_trip_the_quota_refuses_part_way_counts_no_submission(
    scrape, user, settings, django_capture_on_commit_callbacks
):
    """Its first days were submitted in the trip's transaction, which rolled back: not made."""
    from imagegen.services import trips as trip_service
    from tests.test_trips_service import manual_draft

    Quota.objects.update_or_create(user=user, defaults={"daily_limit": 2})
    before = scrape()

    def submitted():
        name, labels = "travelfit_generations_submitted_total", {"task": "text", "tier": "standard"}
        return value(scrape(), name, **labels) - value(before, name, **labels)

    with pytest.raises(services.QuotaExceeded), django_capture_on_commit_callbacks(execute=True):
        trip_service.create_trip(user=user, draft=manual_draft(settings, 3))
    assert submitted() == 0 and Generation.objects.count() == 0
    # Two days fit: those are counted, once the trip is there for good.
    with django_capture_on_commit_callbacks(execute=True):
        trip_service.create_trip(user=user, draft=manual_draft(settings, 2))
    assert submitted() == 2


def test_each_name_is_one_quantity_and_says_what_it_counts(scrape_text, db):
    """Prometheus' naming guide: no name holding two quantities told apart by a label, counters
    in `_total`, gauges not."""
    families = {family.name: family for family in text_string_to_metric_families(scrape_text())}
    assert "travelfit_workers_seen" not in families
    for name in ("travelfit_queue_clusters", "travelfit_queue_workers"):
        assert families[name].type == "gauge"
        (sample,) = families[name].samples
        assert sample.name == name and sample.labels == {}
    assert "travelfit_translation_cache" not in families
    assert families["travelfit_translation_cache_lookups"].type == "counter"
    for family in families.values():
        assert family.type != "gauge" or not family.name.endswith("_total"), family.name


def test_build_info_names_the_version_and_the_commit(scrape_text, settings, db):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    settings.TRAVELFIT_COMMIT = "0123abc"
    info = [s for s in samples(scrape_text()) if s[0] == "travelfit_build_info"]
    assert info == [
        ("travelfit_build_info", frozenset({"version": version, "commit": "0123abc"}.items()))
    ]
    assert (
        value(samples(scrape_text()), "travelfit_build_info", version=version, commit="0123abc")
        == 1
    )
    # Unset, a checkout's own commit.
    settings.TRAVELFIT_COMMIT = ""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert value(samples(scrape_text()), "travelfit_build_info", version=version, commit=head) == 1


def test_failures_are_counted_by_class_and_provider(scrape, gradio_space, user):
    before = scrape()
    gradio_space.behaviour = "gpu-quota"
    services.submit_generation(user=user, **REQUEST)
    run_queued_generations()
    after = scrape()
    labels = {"failure_class": "out_of_quota", "provider": "gradio_space"}
    assert (
        value(after, "travelfit_generation_failures_total", **labels)
        - value(before, "travelfit_generation_failures_total", **labels)
        == 1
    )


def test_a_request_id_is_kept_or_made_and_sent_back(client, user):
    client.force_login(user)
    answer = client.get("/health", headers={"x-request-id": "lb-7f3a.2"})
    assert answer["X-Request-ID"] == "lb-7f3a.2"
    made = client.get("/health", headers={"x-request-id": "bad id\r\nSet-Cookie: x"})
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    assert client.get("/health")["X-Request-ID"] != made["X-Request-ID"]


def test_the_request_id_follows_a_generation_to_the_worker_and_its_webhook(
    api, user, settings, caplog, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = start_receiver()
    try:
        answer = api.post(
            reverse("api:create_generation"),
            {"prompt": "Hahoe", "callback_url": receiver.url()},
            content_type="application/json",
            headers={"x-request-id": "trace-42"},
        )
        assert answer.status_code == 201
        generation = Generation.objects.get()
        assert generation.request_id == "trace-42"
        with caplog.at_level(logging.INFO, logger="imagegen"):
            with django_capture_on_commit_callbacks(execute=True):
                run_queued_generations()
            run_queued_tasks()
        delivery = WebhookDelivery.objects.get()
        assert delivery.outcome == WebhookDelivery.Outcome.DELIVERED
        assert receiver.received[0].headers["x-request-id"] == "trace-42"
    finally:
        receiver.stop()
    # The worker's and the delivery's lines carry it (the filter puts it on every record).
    story = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-42"]
    assert any("webhook" in r.getMessage() for r in story)
    assert any(str(generation.pk) in r.getMessage() for r in story)


def test_json_lines_have_the_fields_and_redact_secrets():
    record = logging.LogRecord(
        "imagegen.worker",
        logging.WARNING,
        __file__,
        1,
        "token %s refused",
        ("hf_" + "a" * 34,),
        None,
    )
    with bound("req-9"):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == {"time", "level", "logger", "message", "request_id"}
    assert (line["level"], line["logger"], line["request_id"]) == (
        "WARNING",
        "imagegen.worker",
        "req-9",
    )
    assert "hf_aaaa" not in line["message"]


def test_log_format_json_is_what_the_site_writes(tmp_path):
    code = (
        "import logging; logging.getLogger('imagegen.check').warning("
        "'with token %s', 'hf_' + 'b' * 34)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "SECRET_KEY": "k" * 50,
            "DATA_DIR": str(tmp_path),
            "LOG_FORMAT": "json",
            "TRAVELFIT_ENV_FILE": "/dev/null",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    assert line["logger"] == "imagegen.check" and line["request_id"] == "-"
    assert "hf_bbbb" not in line["message"]


def test_the_grafana_dashboard_asks_only_for_metrics_the_site_exposes(scrape_text, user):
    services.submit_generation(user=user, **REQUEST)
    run_queued_generations()
    exposed = set()
    for family in text_string_to_metric_families(scrape_text()):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        exposed |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
    dashboard = json.loads(DASHBOARD.read_text())
    asked = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            asked |= set(re.findall(r"travelfit_[a-z_]+", target["expr"]))
    assert asked
    # Histograms are asked for by their _bucket series; counters by _total.
    missing = {name for name in asked if name not in exposed}
    unscraped = {n for n in missing if not n.endswith("_bucket")} | {
        n
        for n in missing
        if n.endswith("_bucket") and n[: -len("_bucket")] + "_count" not in exposed
    }
    assert not unscraped, unscraped


@pytest.mark.worker
def test_two_gunicorn_workers_and_a_qcluster_count_into_the_same_figures(
    start_web,
    start_worker,
    make_user,
    tmp_path,  # noqa: F811
):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "METRICS_TOKEN": TOKEN}
    worker_log = tmp_path / "worker.log"
    start_worker(log_file=worker_log, **env)
    url, web = start_web(WEB_WORKERS="2", **env)
    user = make_user("metered")
    key = services.create_api_token(user=user, name="m")[1]
    made = 5
    for i in range(made):
        status, headers, _ = request(
            url + "/api/v1/generations", key=key, body={"prompt": f"Busan {i}"}
        )
        assert status == 201
    deadline = time.monotonic() + 120
    while Generation.objects.filter(status__in=Generation.ACTIVE).exists():
        assert time.monotonic() < deadline, "the worker did not finish"
        time.sleep(0.2)
    assert Generation.objects.filter(status=Generation.Status.SUCCEEDED).count() == made

    # Scraped many times, whichever gunicorn worker answers, the figures are the same.
    readings = []
    for _ in range(6):
        status, _, body = request(url + "/metrics", key=TOKEN)
        assert status == 200
        readings.append(samples(body.decode()))
    for scraped in readings:
        assert (
            value(scraped, "travelfit_generations_submitted_total", task="text", tier="standard")
            == made
        )
        finished = {"status": "succeeded", "task": "text", "tier": "standard", "provider": "demo"}
        assert value(scraped, "travelfit_generations_finished_total", **finished) == made
        assert (
            value(scraped, "travelfit_provider_seconds_count", provider="demo", outcome="ok")
            == made
        )
        created = {"view": "api:generations", "method": "POST", "status": "201"}
        assert value(scraped, "travelfit_http_requests_total", **created) == made
    # The workers' gauge is their last heartbeat in the shared cache, written every few
    # seconds: wait for one rather than for a moment.
    deadline = time.monotonic() + 30
    while True:
        scraped = samples(request(url + "/metrics", key=TOKEN)[2].decode())
        if value(scraped, "travelfit_queue_workers") >= 1:
            break
        assert time.monotonic() < deadline, "no worker heartbeat reached /metrics"
        time.sleep(0.5)
    pids = {path.name.split("_")[-1] for path in shared.glob("counter_*.db")}
    assert len(pids) >= 3  # two web processes and at least one worker process wrote counts

    # One grep for a generation's request id finds the worker's lines about it too.
    generation = Generation.objects.order_by("created_at").first()
    assert generation.request_id
    time.sleep(0.5)
    assert generation.request_id in worker_log.read_text()


@pytest.mark.worker
def test_a_worker_only_machine_serves_its_counts_on_metrics_port(start_worker, user, tmp_path):
    port = free_port()
    shared = tmp_path / "prometheus"
    shared.mkdir()
    start_worker(PROMETHEUS_MULTIPROC_DIR=str(shared), METRICS_PORT=str(port))
    services.submit_generations(user=user, count=3, **REQUEST)
    deadline = time.monotonic() + 90
    finished = 0.0
    while finished < 3:
        assert time.monotonic() < deadline, "the worker's counts did not reach 3"
        time.sleep(0.3)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                scraped = samples(answer.read().decode())
        except OSError:  # not listening yet
            continue
        labels = {"status": "succeeded", "task": "text", "tier": "standard", "provider": "demo"}
        finished = value(scraped, "travelfit_generations_finished_total", **labels)
    assert finished == 3
