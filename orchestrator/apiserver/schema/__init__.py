"""OpenAPI schemas applied to objects at run time: the structural schemas of CustomResourceDefinitions."""
