"""The run report: leaderboard CSV, a self-contained HTML page, a Markdown excerpt, and the gate's Markdown."""
from ..results import validate_results
from .html import render_html, validate_history, write_report
from .tables import leaderboard_excerpt, leaderboard_frame

__all__ = ["leaderboard_excerpt", "leaderboard_frame", "render_html", "validate_history", "validate_results",
           "write_report"]
