"""Output plumbing: atomic writes, JSON, the run manifest (no figures, no presentation)."""
