"""Scenario + evidence -> calibrated numbers (no replicate trials).

``presets`` reference populations and correlations; ``population`` the screened baseline
copula; ``outcomes`` outcome trajectories and effects; ``effects`` effect distributions;
``evidence`` the pooled evidence table; ``stratum`` one stratum's calibrated model
(:class:`TrialModel`); ``design`` the resolved design (strata, arms, hypotheses).
"""
