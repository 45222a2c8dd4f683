"""Modal screens of the zeptui app."""
