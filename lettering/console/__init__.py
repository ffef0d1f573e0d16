"""The staff console: server-rendered Korean pages under /admin over the domain services."""
