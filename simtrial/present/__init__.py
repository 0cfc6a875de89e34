"""Presentation: text summaries, figures, HTML reports and lessons. It may import anything in
the package; nothing outside ``present`` and the CLI imports it."""
