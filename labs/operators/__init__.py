"""Operators a learner can run against the lab: custom resources reconciled by off-the-shelf frameworks."""
