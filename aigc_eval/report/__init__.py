"""The run report: leaderboard CSV, a self-contained HTML page, and a Markdown excerpt."""
from .html import render_html, write_report
from .schema import validate_history, validate_results
from .tables import diff_frame, leaderboard_excerpt, leaderboard_frame

__all__ = ["diff_frame", "leaderboard_excerpt", "leaderboard_frame", "render_html",
           "validate_history", "validate_results", "write_report"]
