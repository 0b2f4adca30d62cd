"""Barcodes printed on the booklet slip: Code 128, drawn as inline SVG.

Code 128 because the hand scanners of mediation structures (1D laser or 2D imagers) all
read it and type its characters followed by Enter, exactly what the session form expects.
The encoding (character sets, checksum) is python-barcode's; this module only draws its
bars: one SVG path, with presentation attributes and no style, so that pages keep a
Content-Security-Policy without inline styles.
"""

from __future__ import annotations

from barcode import Code128
from markupsafe import Markup, escape

QUIET_MODULES = 10  # blank margin each side, as the symbology requires


def code128_svg(text: str, *, height: int = 40, label: str | None = None) -> Markup:
    """`text` as a Code 128 barcode: an SVG whose unit is one module (scaled by CSS)."""
    modules = Code128(text).build()[0]
    width = len(modules) + 2 * QUIET_MODULES
    bars: list[str] = []
    run = 0
    for i, bit in enumerate(modules + "0"):
        if bit == "1":
            run += 1
            continue
        if run:
            start = QUIET_MODULES + i - run
            bars.append(f"M{start} 0h{run}v{height}h-{run}z")
            run = 0
    title = escape(label or text)
    return Markup(
        f'<svg class="barcode" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" role="img" aria-label="Code-barres {title}">'
        f'<path fill="#000" d="{"".join(bars)}"/></svg>'
    )
