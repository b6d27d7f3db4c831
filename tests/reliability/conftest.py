"""Shared fixtures for the reliability suite."""
