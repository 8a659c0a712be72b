"""The report: this run's tables beside the seeds' published numbers (published.yaml)."""
