"""Operating characteristics: power, assurance and sample size of a design, by simulation and in
closed form, in one result type (:class:`~simtrial.oc.results.RunResult`)."""
