"""Kernel-free slider explorer for a 2-D sweep of pre-rendered figures.

The book is static HTML with no kernel behind it, so the sliders cannot call
Python.  Instead every figure is rendered up front and embedded in the page;
the sliders only choose which one is visible.  That choice is made in the
browser by ``jslink``, which the saved widget state carries into the HTML.
"""

from __future__ import annotations

import io
from typing import Sequence

import ipywidgets as widgets


def figure_png(fig, dpi: int = 60) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it.

    A low dpi keeps the book small: every image of a sweep is embedded in the
    page.  Closing the figure stops notebooks from also drawing it inline and
    from piling up open figures during a sweep.
    """
    import matplotlib.pyplot as plt  # no backend is chosen here on purpose

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _label(value) -> str:
    """Short slider label for a sweep value (floats without trailing zeros)."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _slider(values: Sequence, description: str, label_width: str) -> widgets.SelectionSlider:
    """A SelectionSlider whose ``index`` is the position in ``values``.

    Both sliders get the same ``label_width`` so that their tracks line up.
    """
    return widgets.SelectionSlider(
        options=[(_label(v), k) for k, v in enumerate(values)],
        index=0,
        description=description,
        continuous_update=True,
        style={"description_width": label_width},
        layout=widgets.Layout(width="420px"),
    )


def png_width(png: bytes) -> int:
    """The pixel width in a PNG's header (bytes 16-20 of the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big")


def _panel(png: bytes, caption: str) -> widgets.VBox:
    """One sweep cell: the figure at its own pixel width (a stretched image blurs) with its caption."""
    image = widgets.Image(value=png, format="png", layout=widgets.Layout(width=f"{png_width(png)}px"))
    return widgets.VBox([image, widgets.HTML(caption)])


def _check_grid(images, row_values, col_values, captions) -> None:
    """Fail early on a ragged grid: a missing cell would show as a blank panel."""
    shape = (len(row_values), len(col_values))
    for name, grid in (("images", images), ("captions", captions)):
        if len(grid) != shape[0] or any(len(row) != shape[1] for row in grid):
            raise ValueError(f"{name} must be a {shape[0]}x{shape[1]} grid")


def explorer(
    images: Sequence[Sequence[bytes]],
    row_values: Sequence,
    col_values: Sequence,
    row_label: str,
    col_label: str,
    captions: Sequence[Sequence[str]],
) -> widgets.Widget:
    """Two sliders that pick one PNG out of a rows x columns sweep.

    ``images[i][j]`` (PNG bytes) and ``captions[i][j]`` (HTML or text) belong
    to ``row_values[i]`` and ``col_values[j]``.  The outer Stack holds one inner
    Stack per row; the inner Stacks hold the columns.  A ``jslink`` pairs one
    trait with one trait, so the column slider gets one link per inner Stack.
    All links run in the browser, hence the widget works in static HTML.
    """
    _check_grid(images, row_values, col_values, captions)
    label_width = f"{max(len(row_label), len(col_label)) + 1}ch"
    row_slider = _slider(row_values, row_label, label_width)
    col_slider = _slider(col_values, col_label, label_width)
    inner = [
        widgets.Stack([_panel(png, cap) for png, cap in zip(pngs, caps)], selected_index=0)
        for pngs, caps in zip(images, captions)
    ]
    outer = widgets.Stack(inner, selected_index=0)
    widgets.jslink((row_slider, "index"), (outer, "selected_index"))
    for stack in inner:
        widgets.jslink((col_slider, "index"), (stack, "selected_index"))
    return widgets.VBox([row_slider, col_slider, outer])
