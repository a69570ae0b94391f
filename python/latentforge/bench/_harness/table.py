"""The tables every suite prints: one formatter, one set of cell formatters."""

from __future__ import annotations

from collections.abc import Sequence


def fmt(x: float | None, spec: str, missing: str = "-") -> str:
    """``format(x, spec)``, or ``missing`` for None."""
    return missing if x is None else format(x, spec)


def fmt_ratio(x: float | None, missing: str = "-", spec: str = ".2f") -> str:
    """A ratio as ``1.23x``, or ``missing`` for None."""
    return missing if x is None else f"{format(x, spec)}x"


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None
) -> str:
    """A plain-text table: header, a ``-+-`` rule, one line per row, columns joined by `` | ``.

    ``align`` has one letter per column, ``l`` or ``r`` (default: the first and the last column
    left-aligned, the others right-aligned). A row shorter than the header ends in a free-text
    cell (an error message, say) that is printed as is and does not widen its column.
    """
    ncol = len(headers)
    if align is None:
        align = "".join("l" if j in (0, ncol - 1) else "r" for j in range(ncol))
    if len(align) != ncol:
        raise ValueError(f"align {align!r} does not have {ncol} letters")
    full = [list(headers)] + [list(r) for r in rows if len(r) == ncol]
    widths = [max(len(str(row[j])) for row in full) for j in range(ncol)]
    for r in rows:  # the fixed cells of short rows count too
        for j, c in enumerate(list(r)[: len(r) - 1] if len(r) < ncol else ()):
            widths[j] = max(widths[j], len(str(c)))

    def line(row: Sequence[str]) -> str:
        cells = []
        short = len(row) < ncol
        for j, c in enumerate(row):
            c = str(c)
            if short and j == len(row) - 1:
                cells.append(c)
            else:
                cells.append(c.ljust(widths[j]) if align[j] == "l" else c.rjust(widths[j]))
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in rows])
