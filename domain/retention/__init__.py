"""Retention: when a person's personal data is due for erasure, and the legal holds that stop it."""
