"""The ground floor: settings, database, errors, the phone vault, scheduling, serving, templates and
the request dependencies. Core imports no domain package (tests/unit/test_layering.py)."""
