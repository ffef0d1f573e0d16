"""Retention of personal data: what the service forgets, and when (service.py, jobs.py)."""
