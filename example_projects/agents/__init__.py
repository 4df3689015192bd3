"""One short script per agent framework, each resuming its conversation across runs."""
