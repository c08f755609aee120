"""Widgets grouped by the pane they live in: ``profiles/`` (left) and ``browser/`` (main)."""
