"""Reliability and security suite (issue 9): faults under load, bad input, authorization, load."""
