"""Reports of stored backtests: terminal summaries and text, CSV, JSON and HTML files.

``service.ReportService`` is the entry point; the other modules each build one kind of output
from a ``data.RunData`` loaded once from the store.
"""
