"""What the terminal shows: progress while the target is prepared, and the closing block of failed
requirements (h2spec style: the failed sections, not the test names)."""

from __future__ import annotations

from typing import Any

from .report import OutcomeBook, RowResult, one_line

__all__ = ["closing_block", "fixed_deviations", "Progress"]

_REASON_WIDTH = 110


def fixed_deviations(book: OutcomeBook) -> list[tuple[str, str]]:
    """(node ID, reason) of the tests whose known deviation passed (strict xfail turned XPASS)."""
    return [(t.nodeid, t.reason.removeprefix("no longer deviates: ")) for t in book.tests.values()
            if t.deviation_fixed]


def closing_block(results: list[RowResult], book: OutcomeBook) -> list[str]:
    """Failed SHALL requirements (ID, one-line reason), then SHOULD, then MAY, then known deviations that
    no longer deviate; one line when nothing failed."""
    lines: list[str] = []
    for level in ("SHALL", "SHOULD", "MAY"):
        failed = [r for r in results if r.outcome == "failed" and r.requirement.level == level]
        if not failed:
            continue
        lines.append(f"Failed {level} requirements ({len(failed)}):")
        for r in failed:
            lines.append(f"  {r.requirement.id:<9} {one_line(r.detail or 'failed', _REASON_WIDTH)}")
    fixed = fixed_deviations(book)
    if fixed:
        lines.append(f"Known deviations that no longer deviate ({len(fixed)}): remove them from the profile")
        lines += [f"  {one_line(f'{nodeid}: {reason}', _REASON_WIDTH + 10)}" for nodeid, reason in fixed]
    if not lines:
        lines.append("No requirement failed.")
    return lines


class Progress:
    """One self-rewriting status line on a terminal; silent when the output is not a TTY."""

    def __init__(self, terminalreporter: Any | None):
        self.tr = terminalreporter
        self.active = bool(terminalreporter is not None and getattr(terminalreporter, "isatty", False))
        self._shown = False

    def __call__(self, text: str) -> None:
        if self.active:
            self.tr.rewrite("dicomweb conformance: " + text, erase=True)
            self._shown = True

    def done(self, text: str) -> None:
        """Leave ``text`` as the final line of the progress (only where progress was shown)."""
        if self.active:
            self.tr.rewrite("dicomweb conformance: " + text, erase=True)
            self.tr.write_line("")
            self._shown = False
