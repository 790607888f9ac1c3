"""Make TravelFitLabel-Bold.ttf: the glyphs the visible label needs, cut from NanumGothic Bold.

Run again only to change the glyphs: needs fontTools (`pip install fonttools==4.68.0`, not an
app requirement) and Debian's fonts-nanum. NanumGothic is under the SIL Open Font License 1.1
with "Nanum" and "NanumGothic" reserved, so the subset (a Modified Version) gets a name of its
own; its copyright notice and the licence (OFL.txt) stay with it.

    python imagegen/marks/fonts/make_label_font.py
"""

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf")
TARGET = Path(__file__).with_name("TravelFitLabel-Bold.ttf")
# Printable ASCII for the English label, and the syllables of "AI 생성" with a few spare ones.
TEXT = "".join(chr(code) for code in range(0x20, 0x7F)) + "생성됨이미지로만든"
FAMILY, STYLE, POSTSCRIPT = "TravelFit Label", "Bold", "TravelFitLabel-Bold"
NAMES = {
    1: FAMILY,
    2: STYLE,
    3: f"1.0;{POSTSCRIPT}",
    4: f"{FAMILY} {STYLE}",
    6: POSTSCRIPT,
    10: "The glyphs of TravelFit's visible AI label; licence and origin in OFL.txt.",
    13: "SIL Open Font License, Version 1.1 (OFL.txt).",
    14: "https://openfontlicense.org",
    16: FAMILY,
    17: STYLE,
}


def main():
    font = TTFont(SOURCE)
    options = subset.Options()
    options.name_IDs = [0]  # keep the copyright notice; every other name is ours
    options.layout_features = ["kern"]
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=TEXT)
    subsetter.subset(font)
    table = font["name"]
    for name_id, value in NAMES.items():
        table.setName(value, name_id, 3, 1, 0x409)
    font.save(TARGET)
    print(f"{TARGET}: {TARGET.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs")


if __name__ == "__main__":
    main()
