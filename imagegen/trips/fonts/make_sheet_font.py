"""Make TravelFitSheet-Regular.woff, the contact sheet's font: cut from NanumGothic Regular.

The sheet draws a destination typed by the traveller, so it needs more than a fixed word list:
printable ASCII, the Latin-1 letters NanumGothic has, the 2,350 Hangul syllables of KS X 1001
(the set Korean web fonts subset to: every common word and place name), and the few signs the
sheet uses, saved as WOFF. imagegen.trips.sheet.drawable() answers by the same rule which
characters these are.

Run again only to change the glyphs: needs fontTools (`pip install fonttools==4.68.0`, not an
app requirement) and Debian's fonts-nanum. NanumGothic is under the SIL Open Font License 1.1
with "Nanum" and "NanumGothic" reserved, so the subset (a Modified Version) gets a name of its
own; its copyright notice and the licence (OFL.txt) stay with it.

    python imagegen/trips/fonts/make_sheet_font.py
"""

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
TARGET = Path(__file__).with_name("TravelFitSheet-Regular.woff")
SIGNS = "°·–—…↑↓×’“”"
FAMILY, STYLE, POSTSCRIPT = "TravelFit Sheet", "Regular", "TravelFitSheet-Regular"
NAMES = {
    1: FAMILY,
    2: STYLE,
    3: f"1.0;{POSTSCRIPT}",
    4: f"{FAMILY} {STYLE}",
    6: POSTSCRIPT,
    10: "The glyphs of TravelFit's trip contact sheet; licence and origin in OFL.txt.",
    13: "SIL Open Font License, Version 1.1 (OFL.txt).",
    14: "https://openfontlicense.org",
    16: FAMILY,
    17: STYLE,
}


def ks_x_1001_hangul() -> str:
    """The 2,350 precomposed syllables of KS X 1001 (EUC-KR rows 0xB0–0xC8)."""
    return "".join(
        bytes((row, cell)).decode("euc_kr")
        for row in range(0xB0, 0xC9)
        for cell in range(0xA1, 0xFF)
    )


def main():
    font = TTFont(SOURCE)
    latin = "".join(chr(code) for code in range(0x20, 0x7F))
    latin += "".join(chr(code) for code in range(0xA0, 0x100) if code in font.getBestCmap())
    options = subset.Options()
    options.name_IDs = [0]  # keep the copyright notice; every other name is ours
    options.layout_features = ["kern"]
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=latin + ks_x_1001_hangul() + SIGNS)
    subsetter.subset(font)
    table = font["name"]
    for name_id, value in NAMES.items():
        table.setName(value, name_id, 3, 1, 0x409)
    font.flavor = "woff"  # zlib-compressed: 224 KB instead of 745; FreeType reads it
    font.save(TARGET)
    cmap = font.getBestCmap()
    print(f"{TARGET}: {TARGET.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs")
    print("missing signs:", [sign for sign in SIGNS if ord(sign) not in cmap])
    print("latin-1:", "".join(chr(c) for c in sorted(cmap) if 0xA0 <= c < 0x100))


if __name__ == "__main__":
    main()
