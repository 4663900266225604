"""Local pages built to have a known page experience: a late large image (LCP), a layout shift
of known size (CLS), a 600 ms busy script after the first paint (TBT), a slow click handler
(INP), and plain fast pages. Shared by the tests and bench/experience.py.

The shift: a 400 px box at the top of a 1350x940 viewport moves down by 300 px. Impact
fraction = (300 + 400) / 940, distance fraction = 300 / 1350 (the viewport's larger side):
CLS = 0.7447 * 0.2222 = 0.1655.
"""

from __future__ import annotations

import random
import struct
import zlib

from tests.sites import Page, delayed

IMAGE_DELAY = 3.0  # seconds the server holds the large image back
SHIFT_CLS = (700 / 940) * (300 / 1350)
BUSY_MS = 600
CLICK_MS = 300


def png(width: int, height: int) -> bytes:
    """An RGB PNG of noise: Chromium does not count low-entropy images (placeholders, under
    0.05 bits per pixel) as LCP candidates, so the image must carry detail."""
    noise = random.Random(41)
    raw = b"".join(b"\x00" + noise.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def html(body: str, title: str = "Dienst") -> bytes:
    return (f"<!doctype html><html lang=de><head><meta charset=utf-8><title>{title}</title>"
            f"<style>body{{margin:0;font-family:sans-serif}}</style></head><body>{body}</body></html>").encode()


IMAGE = png(400, 300)
BUSY_JS = f"setTimeout(function () {{ var t = performance.now(); while (performance.now() - t < {BUSY_MS}) {{}} }}, 200);"
CLICK_JS = f"""document.getElementById('pruefen').addEventListener('click', function () {{
  var t = performance.now(); while (performance.now() - t < {CLICK_MS}) {{}}
  document.getElementById('ergebnis').textContent = 'Angaben geprüft';
}});"""


def routes() -> dict[str, Page]:
    return {
        "/schnell": Page(body=html("<main><h1>Bürgerservice</h1><p>Willkommen beim Bürgerservice.</p></main>")),
        "/spaetes-bild": Page(body=html('<main><p>Kurz</p><img src="/gross.png" width="400" height="300" '
                                        'alt="Rathaus"></main>')),
        "/gross.png": Page(stream=delayed(IMAGE_DELAY, IMAGE), content_type="image/png"),
        "/verschiebung": Page(body=html(
            '<div id="platz"></div><div id="kasten" style="height:400px;background:#336;color:#fff">Hinweise</div>'
            "<script>setTimeout(function () { document.getElementById('platz').style.height = '300px'; }, 300);"
            "</script>")),
        "/beschaeftigt": Page(body=html('<main><h1>Formular</h1><p>Bitte warten.</p></main>'
                                        '<script src="/rechnen.js"></script>')),
        "/rechnen.js": Page(body=BUSY_JS.encode(), content_type="application/javascript"),
        "/klick": Page(body=html('<main><h1>Angaben prüfen</h1><button id="pruefen" type="button">Prüfen</button>'
                                 '<p id="ergebnis">noch nicht geprüft</p></main><script src="/klick.js"></script>')),
        "/klick.js": Page(body=CLICK_JS.encode(), content_type="application/javascript"),
    }
