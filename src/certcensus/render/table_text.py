"""Tables that pipe: rich's boxes on a terminal, plain aligned text everywhere else.

Output that goes to a file, a pipe or `less` is read by grep, awk and diff, not by eyes at a
fixed width: there a table is one line per row, columns separated by two spaces, no box
drawing, and never wrapped or folded mid-field, however long a subject or a reason is.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

COLUMN_GAP = "  "


def print_table(console: Console, table: Table) -> None:
    """`table` as rich draws it on a terminal, or as plain lines when `console` is not one."""
    if console.is_terminal:
        console.print(table)
        return
    for line in plain_lines(table):
        console.print(Text(line), soft_wrap=True, crop=False)


def _plain(renderable) -> str:
    if isinstance(renderable, Text):
        return renderable.plain
    return str(renderable) if renderable is not None else ""


def plain_lines(table: Table) -> list[str]:
    """The title (if any), the header and one line per row; cells left- or right-justified as
    their columns say, trailing blanks removed."""
    columns = [
        (_plain(column.header), [_plain(cell) for cell in column.cells], column.justify)
        for column in table.columns
    ]
    widths = [
        max([cell_len(header), *(cell_len(cell) for cell in cells)]) for header, cells, _ in columns
    ]
    rows = [[header for header, _, _ in columns]] if table.show_header else []
    rows += [list(row) for row in zip(*(cells for _, cells, _ in columns))]
    lines = [_plain(table.title)] if table.title else []
    for row in rows:
        cells = []
        for (_, _, justify), width, cell in zip(columns, widths, row):
            padding = " " * (width - cell_len(cell))
            cells.append(padding + cell if justify == "right" else cell + padding)
        lines.append(COLUMN_GAP.join(cells).rstrip())
    return lines
