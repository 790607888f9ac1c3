"""Ship a few travel presets; admins edit or add more in Django admin."""

from django.db import migrations

PRESETS = [
    {
        "name": "Travel postcard",
        "description": "A sunny vintage postcard of a place.",
        "template": "Vintage travel postcard of {prompt}, warm sunlight, vivid colours, "
        "retro print texture, wide scenic view",
        "negative_prompt": "text, watermark, blurry, low quality",
        "aspect": "landscape",
        "position": 10,
    },
    {
        "name": "Outfit lookbook",
        "description": "What to wear: name the destination and the season.",
        "template": "Fashion lookbook photo of a traveller's outfit for {prompt}, full body, "
        "natural light, street backdrop, editorial style",
        "negative_prompt": "deformed hands, extra limbs, blurry, text, watermark",
        "aspect": "portrait",
        "position": 20,
    },
    {
        "name": "Street photo",
        "description": "A candid documentary shot.",
        "template": "Candid street photograph in {prompt}, 35mm film, shallow depth of field, "
        "golden hour, documentary style",
        "negative_prompt": "posed, cartoon, text, watermark",
        "aspect": "landscape",
        "position": 30,
    },
    {
        "name": "Watercolour map",
        "description": "An illustrated map of a trip.",
        "template": "Hand-painted watercolour map of {prompt}, landmarks as small illustrations, "
        "soft pastel palette, paper texture",
        "negative_prompt": "photo, 3d render, blurry",
        "aspect": "square",
        "position": 40,
    },
]


def ship(apps, schema_editor):
    Preset = apps.get_model("imagegen", "Preset")
    for preset in PRESETS:
        Preset.objects.update_or_create(name=preset["name"], defaults=preset)


def unship(apps, schema_editor):
    Preset = apps.get_model("imagegen", "Preset")
    Preset.objects.filter(name__in=[preset["name"] for preset in PRESETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("imagegen", "0003_presets_sharing_api_tokens")]

    operations = [migrations.RunPython(ship, unship)]
