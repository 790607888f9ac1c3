"""Fallback and cool-down across real worker processes sharing one database."""

import pytest

from imagegen import services
from imagegen.models import Generation, ProviderCooldown
from tests.conftest import wait_until_settled
from tests.fakes.hf_server import start_hf_server

TOKEN = "hf_WorkerTokenAbcdefghijklmnop12345"


@pytest.fixture
def hf_down_for_quota():
    with start_hf_server() as server:
        server.behaviour = "429"
        server.retry_after = 600
        yield server


@pytest.mark.worker
def test_a_cool_down_set_by_one_worker_is_honoured_by_another(
    start_worker, make_user, hf_down_for_quota
):
    user = make_user()
    env = {
        "HF_ENDPOINT": hf_down_for_quota.url,  # the library's Hub look-ups
        "HF_ROUTER_URL": hf_down_for_quota.url,
        "HUGGINGFACE_API_TOKEN": TOKEN,
    }
    first_worker = start_worker("hf_inference,demo", **env)
    first = services.submit_generation(user=user, prompt="first", width=512, height=512)
    wait_until_settled(first)
    assert (first.status, first.provider) == (Generation.Status.SUCCEEDED, "demo")
    assert len(hf_down_for_quota.inference_requests) == 1
    assert ProviderCooldown.objects.get(provider="hf_inference").active
    first_worker.terminate()
    first_worker.wait(timeout=20)

    start_worker("hf_inference,demo", **env)
    second = services.submit_generation(user=user, prompt="second", width=512, height=512)
    wait_until_settled(second)
    assert (second.status, second.provider) == (Generation.Status.SUCCEEDED, "demo")
    # The second process never asked the provider the first one found out of quota.
    assert len(hf_down_for_quota.inference_requests) == 1
