"""Text labels that never overlap: each label is placed beside its point at the first offset whose text box
clashes with no label already placed and no other point (used by the word2vec projection of ``plots``)."""

from __future__ import annotations

from matplotlib.text import Text


_LABEL_OFFSETS = [(4, 3, "left", "bottom"), (4, -3, "left", "top"), (-4, 3, "right", "bottom"),
                  (-4, -3, "right", "top"), (0, 6, "center", "bottom"), (0, -6, "center", "top"),
                  (6, 0, "left", "center"), (-6, 0, "right", "center")]
_LABEL_SCALES = (1, 2.5, 4, 6, 9, 13, 18)  # farther offsets get a leader line to their point


def place_label(ax, renderer, word, at, bold, taken, points):
    """Annotate ``word`` at the first offset (near, then farther with a leader line) whose text box overlaps no
    label already placed, no other point and stays inside the axes. A query term (``bold``) is always labelled,
    at the candidate overlapping the fewest labels (then points) if none is free, and always with a leader line so that it is clear
    which point it names; a neighbour is left unlabelled then (None)."""
    inside = ax.get_window_extent(renderer)
    best = None  # (clashes, candidate)
    for scale in _LABEL_SCALES[1:] if bold else _LABEL_SCALES[:1]:  # a neighbour's label sits beside its point
        for dx, dy, ha, va in _LABEL_OFFSETS:
            kw = dict(xytext=(dx * scale, dy * scale), textcoords="offset points", ha=ha, va=va,
                      fontsize=7 if bold else 6, fontweight="bold" if bold else "normal",
                      arrowprops=dict(arrowstyle="-", lw=0.5, color="0.4") if scale > 1 else None)
            text = ax.annotate(word, at, **kw)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).expanded(1.04, 1.08)  # the words, not the leader line
            text.remove()
            clashes = (sum(box.overlaps(t) for t in taken), sum(box.contains(*p) for p in points))
            fits = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
            if fits and not any(clashes):
                taken.append(box)
                return ax.annotate(word, at, **kw)
            if fits and (best is None or clashes < best[0]):
                best = (clashes, kw, box)
    if bold and best is not None:
        taken.append(best[2])
        return ax.annotate(word, at, **best[1])
    return None
