"""The notebooks' exercises, one module each, named as their check (``predict-revision`` →
``predict_revision.py``). Each module registers its check with `labs.checks.register`;
`labs.check(name)` imports the module on first use. Reference solutions live apart, in
`labs.solutions` (instructors: see labs/INSTRUCTOR.md)."""
