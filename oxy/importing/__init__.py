"""Import service, sessions, emitters, pipelines and importers."""
