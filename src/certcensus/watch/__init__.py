"""Watching a fleet over time: rounds of censuses, alerts on change, Prometheus metrics, and
the one-shot Nagios-style `check`."""
