"""A floor plan drawn for the demo (and the browser tests): the same layout at any size."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

Color = tuple[int, int, int]

WALL = (71, 85, 105)
ROOM_FILL = (238, 242, 247)
DESK_FILL = (214, 200, 170)
FLOOR = (252, 252, 250)


def draw_plan(path: Path, width: int, height: int) -> Path:
    """An office floor: meeting rooms along the top, desk rows below, a corridor between."""
    image = Image.new("RGB", (width, height), FLOOR)
    draw = ImageDraw.Draw(image)
    line = max(2, width // 220)

    def box(
        x0: float, y0: float, x1: float, y1: float, *,
        fill: Color | None = None, outline: Color | None = None, width: int = 1,
    ) -> None:
        # `width` is the outline's here: the plan's size is the image's.
        draw.rectangle(
            (x0 * image.width, y0 * image.height, x1 * image.width, y1 * image.height),
            fill=fill, outline=outline, width=width,
        )

    box(0.02, 0.03, 0.98, 0.97, outline=WALL, width=line * 2)
    # Meeting rooms along the top wall, with door gaps towards the corridor.
    for left, right in [(0.02, 0.30), (0.30, 0.52), (0.52, 0.74)]:
        box(left, 0.03, right, 0.36, fill=ROOM_FILL, outline=WALL, width=line)
        box(left + 0.04, 0.355, left + 0.09, 0.365, fill=FLOOR)
    # Kitchen and stairs at the top right.
    box(0.74, 0.03, 0.98, 0.36, outline=WALL, width=line)
    for step in range(8):
        y = 0.06 + step * 0.035
        draw.line((0.80 * width, y * height, 0.94 * width, y * height), fill=WALL, width=1)
    # Desk rows: two rows of six desks in three clusters.
    for cluster in range(3):
        for row in range(2):
            for seat in range(2):
                x = 0.10 + cluster * 0.28 + seat * 0.09
                y = 0.52 + row * 0.20
                box(x, y, x + 0.08, y + 0.09, fill=DESK_FILL, outline=WALL, width=1)
    image.save(path)
    return path
