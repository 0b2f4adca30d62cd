"""Barcodes printed on the booklet slip: Code 128, drawn as inline SVG.

Code 128 because the hand scanners of mediation structures (1D laser or 2D imagers) all
read it and type its characters followed by Enter, exactly what the session form expects.
The encoding (character sets, checksum) is ReportLab's, the well-kept PDF toolkit (its
`decompose()` gives the bar and space widths); this module only draws the bars: one SVG
path, with presentation attributes and no style, so that pages keep a
Content-Security-Policy without inline styles. (python-barcode 0.16 was tried first: it
drops a leading "99" pair, which tests/test_barcodes.py caught.)
"""

from __future__ import annotations

from markupsafe import Markup, escape
from reportlab.graphics.barcode.code128 import Code128

QUIET_MODULES = 10  # blank margin each side, as the symbology requires


def code128_svg(text: str, *, height: int = 40, label: str | None = None) -> Markup:
    """`text` as a Code 128 barcode: an SVG whose unit is one module (scaled by CSS)."""
    modules = _modules(text)
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


def _modules(text: str) -> str:
    """The symbol as modules, 1 for bar and 0 for space (start, data, check, stop)."""
    symbol = Code128(text, quiet=0)
    symbol.validate()
    symbol.encode()
    symbol.decompose()
    # Upper case letters are bars, lower case spaces; A/a is one module wide, B/b two...
    return "".join(
        ("1" if w.isupper() else "0") * (ord(w.lower()) - ord("a") + 1) for w in symbol.decomposed
    )
