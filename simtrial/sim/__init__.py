"""Replicate trials: draw patients and analyse them.

``suffstat`` is the exact sufficient-statistics kernel (the prefix kernel's designs whose
endpoint is linear-normal given the baseline: each arm's sums drawn from their exact
distribution); ``prefix`` the prefix-sum kernel (one continuous endpoint, two arms, every N in
one pass); ``full`` the full patient kernel (every design); ``driver`` owns the chunk loop, workers,
progress and combining and picks the kernel; ``patients`` draws one trial's trajectories;
``conduct`` is the SimPy model of trial conduct.
"""
