"""Table text: numbers with their spread, Markdown and LaTeX helpers, and best-per-column marks.

The ``reproduce/`` tables (README, *Reproducing the paper*) write each row's metric as
``mean ± std`` over seeds (:func:`fmt`), ``failed`` when every run of the row failed
(:func:`mean_cell`), and mark the best value of each column within a block of rows
(:func:`mark_best`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence


def fmt(value: float | None, std: float | None = None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (``—`` for ``None``, scientific from 10⁴), with
    `` ± std`` (2 significant digits) when ``std`` is given."""
    if value is None:
        return "—"
    text = f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.3e}"
    if std is not None:
        text += f" ± {std:.2g}"
    return text


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of ``header`` and ``rows`` (cells already text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped and ``±``, ``—``, ``Δ`` in math mode."""
    for old, new in (
        ("\\", "\\textbackslash{}"),
        ("_", "\\_"),
        ("%", "\\%"),
        ("&", "\\&"),
        ("#", "\\#"),
        ("±", "$\\pm$"),
        ("—", "--"),
        ("Δ", "$\\Delta$"),
    ):
        text = text.replace(old, new)
    return text


def mean_cell(row: dict, key: str) -> str:
    """A row's ``key`` as ``mean ± std`` (``row[key]``, ``row[key + "_std"]``), or ``failed`` when
    every run of the row failed (``n_failed == n_runs``)."""
    if row["n_failed"] == row["n_runs"]:
        return "failed"
    return fmt(row[key], row[key + "_std"])


def mark_best(
    rows: Sequence[dict],
    columns: Sequence[tuple[str, str, str]],
    block: Callable[[dict], Hashable],
) -> None:
    """Set each row's ``best`` to the column keys where it holds the block's best value.

    ``columns`` are ``(key, title, better)`` with ``better`` ``"min"`` or ``"max"``; ``block(row)``
    names the row's block (e.g. its target and T). Missing values (``None``) are never best; ties
    are all best. ``best`` lists the keys in column order."""
    blocks: dict[Hashable, list[dict]] = {}
    for row in rows:
        blocks.setdefault(block(row), []).append(row)
        row["best"] = []
    for members in blocks.values():
        for key, _, better in columns:
            vals = [row[key] for row in members if row[key] is not None]
            if not vals:
                continue
            best = (min if better == "min" else max)(vals)
            for row in members:
                if row[key] is not None and row[key] == best:
                    row["best"].append(key)
