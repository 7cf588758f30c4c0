"""Scene import (FBX, glTF, GLB, OBJ through pyassimp): backend, plan, resolver, readiness,
async importer and sync path. See docs/scene_import.md."""
