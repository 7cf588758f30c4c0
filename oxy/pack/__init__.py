"""Packing cooked content into PAK files (loose root -> .pak). See ``writer``."""
