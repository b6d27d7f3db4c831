"""Reference solutions of the exercises in `labs.exercises`, kept apart so a learner is not shown
them by accident. Tests run every check against its solution (must pass) and its stub (must fail,
helpfully)."""
