"""The shared vocabulary: object keys, resources, selectors, quantities and typed errors. No I/O."""
