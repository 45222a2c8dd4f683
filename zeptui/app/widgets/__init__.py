"""Reusable widgets of the zeptui app."""
