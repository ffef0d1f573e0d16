"""Figures for the dashboard: what the service did, per agency."""
