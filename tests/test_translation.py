"""Korean prompts in English for the image model (imagegen/translation.py).

The translator is the real huggingface_hub InferenceClient talking to the fake Hugging Face on
127.0.0.1 (tests/fakes/hf_server.py: the Hub's pipeline-tag look-up, then the hf-inference
router's translation), or, for PROMPT_TRANSLATION=local, a tiny MarianMT model and tokenizer
this module builds with transformers and sentencepiece. The image provider is hf_inference
(fal-ai) on the same fake, so the tests read what the image model was really sent.
"""

import io
import json
import re
import uuid

import pytest
from django.urls import reverse
from PIL import Image

from imagegen import services, translation
from imagegen.models import Generation
from imagegen.tasks import run_generation
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server
from tests.test_command_imagegen_check import check
from tests.test_settings import start as start_manage_py

TOKEN = "hf_TranslateTokenAbcdefghijklmn123456"
CREATE_URL = reverse("imagegen:create")


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hf(hf_server, settings, db):
    """The fake Hugging Face for images and translations, translation on (hf_inference).

    Each test translates with a model of its own name, so no translation cached by another test
    (the Redis cache outlives a test; the database one does not) can stand in for a call.
    """
    hf_server.behaviour = hf_server.hub_behaviour = hf_server.translation_behaviour = "ok"
    hf_server.slow_seconds = 10.0
    hf_server.requests.clear()
    model = f"travelfit-test/opus-mt-ko-en-{uuid.uuid4().hex[:8]}"
    hf_server.add_model(model, model, provider="hf-inference", task="translation")
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_TIMEOUT = 3.0
    settings.HF_TRANSLATION_TIMEOUT = 3.0
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    settings.PROMPT_TRANSLATION = "hf_inference"
    settings.HF_TRANSLATION_MODEL = model
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


def make(user, prompt, negative_prompt="", **extra):
    """Submit a generation and run its task here, as a worker would; the row, reloaded."""
    generation = services.submit_generation(
        user=user,
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=512,
        height=512,
        seed=3,
        **extra,
    )
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    return generation


def sent_to_image_model(hf):
    (post,) = hf.inference_requests
    return post.json["prompt"], post.json.get("negative_prompt")


def test_a_korean_prompt_reaches_the_image_model_in_english(hf, user, settings):
    generation = make(user, "서울 야경", "흐릿한 사진")
    assert generation.status == Generation.Status.SUCCEEDED
    assert sent_to_image_model(hf) == ("Seoul at night", "blurry photo")
    assert [r.json for r in hf.translation_requests] == [
        {"inputs": "서울 야경", "parameters": {}},
        {"inputs": "흐릿한 사진", "parameters": {}},
    ]
    first = hf.translation_requests[0]
    assert first.path == f"/hf-inference/models/{settings.HF_TRANSLATION_MODEL}"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    # Both texts are kept: the user's words and what the model got.
    assert (generation.prompt, generation.negative_prompt) == ("서울 야경", "흐릿한 사진")
    assert (generation.prompt_en, generation.negative_prompt_en) == (
        "Seoul at night",
        "blurry photo",
    )
    assert generation.translation_note == translation.TRANSLATED
    assert generation.error_detail == ""


# The `parameters` line as AUTOMATIC1111's infotext reader splits it (modules/infotext_utils.py).
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def read_parameters(text):
    """(prompt, negative prompt, fields) the way A1111-style readers take a parameters chunk."""
    *lines, last = text.strip().split("\n")
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line.removeprefix("Negative prompt:").strip()
        (negative if in_negative else prompt).append(line)
    fields = {}
    for key, value in A1111_PARAM.findall(last):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return "\n".join(prompt), "\n".join(negative), fields


def test_the_png_says_what_the_model_got_and_the_words_it_came_from(hf, user):
    generation = make(user, "서울 야경", "흐릿한 사진")
    with generation.image.open("rb") as handle:
        text = Image.open(io.BytesIO(handle.read())).info["parameters"]
    prompt, negative, fields = read_parameters(text)
    assert (prompt, negative) == ("Seoul at night", "blurry photo")
    assert fields["Original prompt"] == "서울 야경"
    assert fields["Original negative prompt"] == "흐릿한 사진"
    assert fields["Seed"] == "3"
    assert fields["Provider"] == "hf_inference"


def test_an_untranslated_png_has_no_original_fields(hf, user):
    generation = make(user, "Jeonju hanok village")
    with generation.image.open("rb") as handle:
        text = Image.open(io.BytesIO(handle.read())).info["parameters"]
    prompt, _, fields = read_parameters(text)
    assert prompt == "Jeonju hanok village"
    assert "Original prompt" not in fields


def test_the_detail_page_shows_the_english_sent_and_the_note(hf, user, user_client):
    generation = make(user, "서울 야경", "흐릿한 사진")
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "서울 야경" in page
    assert "Sent to the model (English)" in page
    assert '<dd lang="en" data-role="prompt-en">Seoul at night</dd>' in page
    assert '<dd lang="en" data-role="negative-prompt-en">blurry photo</dd>' in page
    assert "translated to English for the image model" in page


def test_the_detail_page_of_an_english_prompt_has_no_translation_rows(hf, user, user_client):
    generation = make(user, "Jeonju hanok village")
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    # The rows are there for the live status script to fill in, but hidden and empty.
    for role in ("prompt-en", "negative-prompt-en", "translation-note"):
        assert f'<div data-role="{role}-row" hidden>' in page
        assert re.search(f'data-role="{role}">\\s*</dd>', page)


def test_the_api_shows_both_texts(hf, user, api):
    generation = make(user, "서울 야경", "흐릿한 사진")
    item = api.get(reverse("api:generation", args=[generation.pk])).json()
    assert item["prompt"] == "서울 야경"
    assert item["prompt_en"] == "Seoul at night"
    assert item["negative_prompt_en"] == "blurry photo"
    assert item["translation_note"] == translation.TRANSLATED
    assert item["translate_prompt"] is True


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, True),
        ({"translate_prompt": True}, True),
        ({"translate_prompt": False}, False),
        ({"translate_prompt": None}, True),
    ],
)
def test_the_api_takes_translate_prompt(hf, user, api, body, expected):
    response = api.post(
        reverse("api:generations"),
        {"prompt": "서울 야경", "width": 512, "height": 512, **body},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["results"][0]["translate_prompt"] is expected
    assert Generation.objects.get(owner=user).translate_prompt is expected


@pytest.mark.parametrize("value", ["maybe", 1, [True]])
def test_the_api_refuses_a_translate_prompt_that_is_not_true_or_false(hf, user, api, value):
    response = api.post(
        reverse("api:generations"),
        {"prompt": "서울 야경", "width": 512, "height": 512, "translate_prompt": value},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "translate_prompt" in response.json()["error"]["fields"]
    assert not Generation.objects.filter(owner=user).exists()


def test_the_api_refuses_a_form_body_rather_than_read_false_from_text(hf, user, api):
    response = api.post(
        reverse("api:generations"),
        {"prompt": "서울 야경", "width": "512", "height": "512", "translate_prompt": "false"},
    )
    assert response.status_code == 415
    assert not Generation.objects.filter(owner=user).exists()


def test_send_my_words_as_they_are_skips_translation(hf, user, user_client):
    response = user_client.post(
        CREATE_URL,
        {"prompt": "서울 야경", "width": "512", "height": "512", "seed": "", "send_as_is": "on"},
    )
    assert response.status_code == 302
    generation = Generation.objects.get(owner=user)
    assert generation.translate_prompt is False
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert not hf.translation_requests
    assert sent_to_image_model(hf)[0] == "서울 야경"
    assert (generation.prompt_en, generation.translation_note) == ("", "")


def test_the_box_left_unticked_translates(hf, user, user_client):
    user_client.post(CREATE_URL, {"prompt": "서울 야경", "width": "512", "height": "512"})
    generation = Generation.objects.get(owner=user)
    assert generation.translate_prompt is True
    run_generation(str(generation.pk))
    assert sent_to_image_model(hf)[0] == "Seoul at night"


def test_a_retry_keeps_the_users_choice(hf, user):
    first = make(user, "서울 야경", translate_prompt=False)
    again = services.retry_generation(generation_id=first.pk, user=user)
    assert again.translate_prompt is False


def test_the_tick_box_is_offered_only_when_translation_is_on(user_client, settings):
    settings.PROMPT_TRANSLATION = "off"
    assert "Send my words as they are" not in user_client.get(CREATE_URL).content.decode()
    settings.PROMPT_TRANSLATION = "hf_inference"
    page = user_client.get(CREATE_URL).content.decode()
    assert "Send my words as they are" in page
    assert 'name="send_as_is"' in page
    assert "because the models read English only" in page


def test_english_prompts_are_not_sent_to_the_translator(hf, user):
    generation = make(user, "Jeonju hanok village at dusk", "blurry")
    assert not hf.translation_requests
    assert sent_to_image_model(hf) == ("Jeonju hanok village at dusk", "blurry")
    assert (generation.prompt_en, generation.negative_prompt_en) == ("", "")
    assert generation.translation_note == ""


def test_only_the_text_with_korean_in_it_is_translated(hf, user):
    generation = make(user, "Jeonju hanok village", "사람들")
    assert [r.json["inputs"] for r in hf.translation_requests] == ["사람들"]
    assert sent_to_image_model(hf) == ("Jeonju hanok village", "people")
    assert (generation.prompt_en, generation.negative_prompt_en) == ("", "people")


def test_jamo_alone_count_as_korean(hf, user):
    make(user, "ㅋㅋ travel photo")
    assert [r.json["inputs"] for r in hf.translation_requests] == ["ㅋㅋ travel photo"]


def test_identical_prompts_are_translated_once(hf, user):
    first = make(user, "부산 해운대 해변의 일출")
    second = make(user, "부산 해운대 해변의 일출")
    assert len(hf.translation_requests) == 1
    assert first.prompt_en == second.prompt_en == "Sunrise over Haeundae beach in Busan"
    assert [r.json["prompt"] for r in hf.inference_requests] == [
        "Sunrise over Haeundae beach in Busan"
    ] * 2


def test_a_translation_by_another_model_is_not_reused(hf, hf_server, user, settings):
    make(user, "서울 야경")
    other = f"travelfit-test/other-ko-en-{uuid.uuid4().hex[:8]}"
    hf_server.add_model(other, other, provider="hf-inference", task="translation")
    settings.HF_TRANSLATION_MODEL = other
    generation = make(user, "서울 야경")
    assert len(hf.translation_requests) == 2
    assert hf.translation_requests[1].path == f"/hf-inference/models/{other}"
    assert generation.prompt_en == "Seoul at night"


@pytest.mark.parametrize(
    ("behaviour", "detail"),
    [
        ("500", "HTTP 500: Internal Server Error"),
        ("503-loading", "HTTP 503: Model travelfit-test/opus-mt-ko-en-"),
        ("garbage", "the answer was not a translation (JSONDecodeError"),
        ("empty", "the answer was not a translation (IndexError"),
        ("hangup", "RemoteProtocolError"),
    ],
)
def test_a_failed_translation_sends_the_words_as_they_are_with_a_note(hf, user, behaviour, detail):
    hf.translation_behaviour = behaviour
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.SUCCEEDED
    assert sent_to_image_model(hf)[0] == "서울 야경"
    assert generation.prompt_en == ""
    assert generation.translation_note == translation.NOT_TRANSLATED
    assert "Prompt translation failed." in generation.error_detail
    assert "The prompt was sent untranslated" in generation.error_detail
    assert detail in generation.error_detail
    assert generation.charged  # a success: its unit of quota is kept


def test_a_slow_translator_is_given_up_on_after_the_timeout(hf, user, settings):
    hf.translation_behaviour = "slow"
    hf.slow_seconds = 5.0
    settings.HF_TRANSLATION_TIMEOUT = 1.0
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.SUCCEEDED
    assert sent_to_image_model(hf)[0] == "서울 야경"
    assert "InferenceTimeoutError" in generation.error_detail


def test_the_failure_detail_never_carries_the_token(hf, user, user_client):
    hf.translation_behaviour = "echo-500"  # the server quotes the Authorization header back
    generation = make(user, "서울 야경")
    assert "you sent" in generation.error_detail
    assert TOKEN not in generation.error_detail
    assert "[redacted]" in generation.error_detail
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "did not work this time" in page
    assert "you sent" not in page  # the detail is for admins


def test_a_failed_translation_is_not_cached(hf, user):
    hf.translation_behaviour = "500"
    make(user, "서울 야경")
    hf.translation_behaviour = "ok"
    generation = make(user, "서울 야경")
    assert generation.prompt_en == "Seoul at night"
    assert len(hf.translation_requests) == 2


def test_a_failed_generation_keeps_the_translation_detail_for_admins(hf, user):
    hf.translation_behaviour = "500"
    hf.behaviour = "400-content"  # then the image model refuses the prompt
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.FAILED
    assert "Prompt translation failed." in generation.error_detail
    assert "hf_inference (prompt_rejected)" in generation.error_detail


def test_without_a_token_the_words_go_as_they_are(hf, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    settings.HUGGINGFACE_API_TOKEN = ""
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.SUCCEEDED
    assert not hf.translation_requests
    assert "HUGGINGFACE_API_TOKEN is not set" in generation.error_detail
    assert generation.translation_note == translation.NOT_TRANSLATED


def test_translation_follows_hf_router_url(hf, user):
    from huggingface_hub.inference._providers import PROVIDERS

    # As huggingface_hub leaves it at import: its own router, whatever HF_ROUTER_URL says
    # (here a closed port, so a call that went there would fail the translation).
    PROVIDERS["hf-inference"]["translation"].base_url = "http://127.0.0.1:9/hf-inference"
    generation = make(user, "서울 야경")
    assert generation.prompt_en == "Seoul at night"
    assert len(hf.translation_requests) == 1


def test_off_never_calls_the_translator(hf, user, settings):
    settings.PROMPT_TRANSLATION = "off"
    generation = make(user, "서울 야경", "흐릿한 사진")
    assert not hf.translation_requests
    assert not [r for r in hf.hub_requests if "opus-mt" in r.path]
    assert sent_to_image_model(hf) == ("서울 야경", "흐릿한 사진")
    assert (generation.prompt_en, generation.translation_note) == ("", "")


# --- auto: on with a token, off with a warning without one ------------------------------------


def test_auto_translates_when_a_token_is_set(hf, user, settings):
    settings.PROMPT_TRANSLATION = "auto"
    generation = make(user, "서울 야경")
    assert generation.prompt_en == "Seoul at night"
    assert len(hf.translation_requests) == 1
    assert sent_to_image_model(hf)[0] == "Seoul at night"


def test_auto_without_a_token_is_off_and_says_so(user, client, monitor, settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PROMPT_TRANSLATION = "auto"
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    generation = make(user, "서울 야경")
    assert (generation.prompt_en, generation.translation_note) == ("", "")
    warnings = monitor.get("/health").json()["warnings"]
    assert any("No prompt translation" in warning for warning in warnings)
    with pytest.raises(SystemCheckError, match="imagegen.W002"):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "translation")
    out, _problems = check()
    assert "Prompt translation: off (No prompt translation" in out
    client.force_login(user)
    assert "send_as_is" not in client.get(CREATE_URL).content.decode()
    settings.PROMPT_TRANSLATION = "off"  # said on purpose: no warning
    warnings = monitor.get("/health").json()["warnings"]
    assert not any("translation" in warning for warning in warnings)
    call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "translation")


def test_auto_with_a_token_offers_sending_words_as_they_are(hf, user, client, settings):
    settings.PROMPT_TRANSLATION = "auto"
    client.force_login(user)
    assert 'name="send_as_is"' in client.get(CREATE_URL).content.decode()
    settings.HUGGINGFACE_API_TOKEN = ""
    assert 'name="send_as_is"' not in client.get(CREATE_URL).content.decode()


# --- settings --------------------------------------------------------------------------------


PRINT_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.PROMPT_TRANSLATION, s.HF_TRANSLATION_MODEL, s.HF_TRANSLATION_TIMEOUT)"
)


def start(env_changes):
    """The translation settings as `manage.py shell` reads them from these variables."""
    return start_manage_py(env_changes, ("shell", "--verbosity", "0", "-c", PRINT_SETTINGS))


def test_translation_settings_default_to_auto(tmp_path):
    result = start({"DATA_DIR": str(tmp_path), "PROMPT_TRANSLATION": None})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["auto", "Helsinki-NLP/opus-mt-ko-en", "20.0"]


def test_translation_settings_are_read(tmp_path):
    result = start(
        {
            "DATA_DIR": str(tmp_path),
            "PROMPT_TRANSLATION": "Local",
            "HF_TRANSLATION_MODEL": "someone/ko-en",
            "HF_TRANSLATION_TIMEOUT": "5",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["local", "someone/ko-en", "5.0"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "PROMPT_TRANSLATION",
            "papago",
            "PROMPT_TRANSLATION must be off, hf_inference, local or auto; got 'papago'",
        ),
        ("HF_TRANSLATION_TIMEOUT", "0", "HF_TRANSLATION_TIMEOUT must be a number of seconds"),
    ],
)
def test_a_bad_translation_setting_stops_start_up_naming_it(tmp_path, name, value, message):
    result = start({"DATA_DIR": str(tmp_path), name: value})
    assert result.returncode != 0
    assert message in result.stderr


# --- imagegen_check --------------------------------------------------------------------------


@pytest.fixture
def checking(hf, settings):
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    return hf


def test_check_passes_for_a_model_hf_inference_serves(checking, settings):
    settings.HF_TRANSLATION_MODEL = "Helsinki-NLP/opus-mt-ko-en"
    output, error = check()
    assert error is None, output
    assert "Prompt translation (hf_inference, Helsinki-NLP/opus-mt-ko-en): OK" in output
    (lookup,) = [r for r in checking.hub_requests if "opus-mt-ko-en" in r.path]
    assert sorted(lookup.query["expand"]) == ["inferenceProviderMapping", "pipeline_tag"]
    assert not checking.translation_requests  # a look-up, not a translation


def test_check_says_plainly_when_hf_inference_does_not_serve_the_model(checking, settings):
    model = "someone/opus-mt-ko-en-unserved"
    checking.add_model(model, None, task="translation")
    checking.add_model(model, "someone/ko-en", provider="replicate", task="translation")
    settings.HF_TRANSLATION_MODEL = model
    output, error = check()
    assert f"The hf-inference provider does not serve {model} now (served by: replicate)" in output
    assert "Korean prompts would go out untranslated" in output
    assert "Korean prompts cannot be translated" in error


def test_check_names_a_model_that_is_not_a_translation_model(checking, settings):
    settings.HF_TRANSLATION_MODEL = "stabilityai/stable-diffusion-3.5-large"
    output, error = check()
    assert "is not a translation model (its task is text-to-image)" in output
    assert error


def test_check_names_an_unknown_model(checking, settings):
    settings.HF_TRANSLATION_MODEL = "nobody/nothing"
    output, error = check()
    assert "No translation model nobody/nothing on the Hub." in output
    assert error


def test_check_says_when_translation_is_off(checking, settings):
    settings.PROMPT_TRANSLATION = "off"
    output, error = check()
    assert "Prompt translation: off" in output
    assert error is None
    assert not checking.hub_requests


# --- local: a tiny MarianMT model built here ---------------------------------------------------

KOREAN = ["서울 야경", "부산 바다", "제주도 일출", "경복궁 사진", "한옥 마을", "해운대 해변"]
ENGLISH = ["Seoul at night", "Busan sea", "Jeju sunrise", "Gyeongbokgung", "hanok", "a beach"]


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    """A MarianMT model and tokenizer of a few kilobytes, saved with save_pretrained().

    The tokenizer's SentencePiece models are trained here on a few phrases; the model's weights
    are random, with a bias that makes it answer the word "beach" (twice: it stops at four
    tokens), so what it says is known without a real translation model.
    """
    spm = pytest.importorskip("sentencepiece")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-marian")
    for name, lines in (("source", KOREAN), ("target", ENGLISH)):
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines * 5),
            model_writer=model,
            vocab_size=40,
            hard_vocab_limit=False,
            character_coverage=1.0,
            user_defined_symbols=["▁beach"] if name == "target" else [],
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            minloglevel=2,
        )
        (folder / f"{name}.spm").write_bytes(model.getvalue())
    vocab = {}
    for name in ("source", "target"):
        processor = spm.SentencePieceProcessor(model_file=str(folder / f"{name}.spm"))
        for piece in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(piece), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tokenizer = transformers.MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
        source_lang="ko",
        target_lang="en",
    )
    torch.manual_seed(0)
    config = transformers.MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
    )
    model = transformers.MarianMTModel(config)
    with torch.no_grad():
        model.final_logits_bias[0, vocab["▁beach"]] = 50.0
    model.generation_config = transformers.GenerationConfig(
        max_length=4,
        num_beams=1,
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        forced_eos_token_id=config.eos_token_id,
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_local_mode_translates_in_the_worker_with_marian(hf, user, settings, tiny_marian):
    settings.PROMPT_TRANSLATION = "local"
    settings.HF_TRANSLATION_MODEL = str(tiny_marian)
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.SUCCEEDED
    assert sent_to_image_model(hf)[0] == "beach beach"
    assert generation.prompt_en == "beach beach"
    assert generation.translation_note == translation.TRANSLATED
    assert not hf.translation_requests  # nothing asked over the network


def test_local_mode_with_a_broken_model_sends_the_words_as_they_are(
    hf, user, settings, tmp_path, tiny_marian
):
    settings.PROMPT_TRANSLATION = "local"
    settings.HF_TRANSLATION_MODEL = str(tmp_path)  # a folder with no model in it
    generation = make(user, "서울 야경")
    assert generation.status == Generation.Status.SUCCEEDED
    assert sent_to_image_model(hf)[0] == "서울 야경"
    assert generation.translation_note == translation.NOT_TRANSLATED
    assert "local" in generation.error_detail


def test_check_passes_for_local_mode_with_its_packages(checking, settings, tiny_marian):
    settings.PROMPT_TRANSLATION = "local"
    settings.HF_TRANSLATION_MODEL = str(tiny_marian)
    output, error = check()
    assert f"Prompt translation (local, {tiny_marian}): OK" in output
    assert error is None
