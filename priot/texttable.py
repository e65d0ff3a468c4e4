"""Plain-text tables whose columns never run together: each column as wide as its widest cell, two spaces apart.

Fixed widths broke as soon as a figure outgrew them (VGG11's 208,089,080 forward cycles met the ms/step column
as ``1664.7208,089,080``).
"""

GAP = "  "


def render(header, rows, left=1) -> str:
    """``header`` and ``rows`` (sequences of already formatted cells) as lines; the first ``left`` columns are
    left-aligned, the others right-aligned. A row shorter than the header (a note) is printed as it is."""
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *full)]

    def line(cells):
        return GAP.join(f"{c:<{w}}" if i < left else f"{c:>{w}}"
                        for i, (c, w) in enumerate(zip(map(str, cells), widths))).rstrip()

    return "\n".join(line(r) if len(r) == len(header) else GAP.join(map(str, r)) for r in [header, *rows])
