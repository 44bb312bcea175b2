"""Views of plans, results and records for people and programs: typed JSON-ready data, diffs and
Markdown reports, all redacted; one module per view."""
