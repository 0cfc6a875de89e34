"""Statistics: arrays in, arrays out. Nothing here knows a scenario (a layer test enforces it).

``sums`` ANCOVA / t-test from prefix sums; ``mmrm`` OLS, REML MMRM, multiple imputation;
``binary`` responder tests; ``multiplicity`` family-wise procedures; ``gsd`` group-sequential
boundaries; ``meta`` meta-analysis; ``closed_form`` power and sample size formulas; ``mc`` Monte
Carlo standard errors and intervals; ``distributions``, ``roots`` and ``qmc`` the t, normal,
chi-square and binomial functions, Brent's root finder and the scrambled Sobol' points of
scipy.stats / scipy.optimize, computed the same way without importing those (start-up time).
"""
