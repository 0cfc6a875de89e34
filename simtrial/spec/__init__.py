"""The scenario specification: TOML -> validated, frozen objects (``validate at the edge, once``).

Imports nothing downstream (only :mod:`simtrial.errors` and the name tables in
:mod:`simtrial.presets` and :mod:`simtrial.outcomes`).
"""
