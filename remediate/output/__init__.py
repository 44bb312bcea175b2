"""Views of plans and results for people and programs: JSON-ready data, diffs and Markdown reports,
all redacted."""
