"""The kiosk's vendored Chinese font: it covers every Chinese character the page can show, and is served."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartstore.gateway.api.routes import kiosk
from smartstore.gateway.api.routes.kiosk import KIOSK_DIR, VENDOR_DIR

ttlib = pytest.importorskip("fontTools.ttLib")
FONTS = ["noto-sans-sc-kiosk-400.woff", "noto-sans-sc-kiosk-700.woff"]
# The ranges the @font-face rules in kiosk.css give the vendored font.
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def kiosk_cjk_characters() -> set[str]:
    text = "".join((KIOSK_DIR / name).read_text(encoding="utf-8") for name in ("kiosk.js", "index.html"))
    return set(CJK.findall(text))


@pytest.mark.parametrize("name", FONTS)
def test_the_subset_covers_every_chinese_character_of_the_page(name: str) -> None:
    characters = kiosk_cjk_characters()
    assert len(characters) > 50  # the zh-CN strings are there to be checked
    font = ttlib.TTFont(VENDOR_DIR / name)
    cmap = font.getBestCmap()
    # A new string with a character outside the subset would be drawn from whatever the kiosk has
    # (boxes on most): re-run the pyftsubset command in dashboard/README.md.
    assert sorted(c for c in characters if ord(c) not in cmap) == []
    assert all(ord(digit) in cmap for digit in "0123456789")
    assert (VENDOR_DIR / name).stat().st_size < 64 * 1024  # a subset, not the 1 MB+ full font
    assert (VENDOR_DIR / "noto-sans-sc.LICENSE").read_text().count("SIL Open Font License") >= 1


def test_the_page_loads_the_font_from_the_gateway_itself() -> None:
    app = FastAPI()
    app.include_router(kiosk.router)
    client = TestClient(app)
    css = client.get("/kiosk/assets/kiosk.css").text
    assert set(re.findall(r'url\("([^"]+)"\)', css)) == {f"/kiosk/assets/{name}" for name in FONTS}
    for name in FONTS:
        response = client.get(f"/kiosk/assets/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "font/woff"
        assert response.content[:4] == b"wOFF"
