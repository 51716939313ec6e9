"""Run by mkdocs-gen-files (mkdocs.yml) at each build: the reference pages
with their generated parts filled in (refgen.py), and the JSON Schema of
configs published with the site as schema/config.json (and schema/bench.json
for bench suite files): the built-in problems and optimizers, no plugins."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mkdocs_gen_files
import refgen

from optrun.config.schema import schema_text

for path, text in refgen.pages().items():
    with mkdocs_gen_files.open(path, "w") as page:
        page.write(text)
    mkdocs_gen_files.set_edit_path(path, path)

for kind, name in (("run", "config"), ("bench", "bench")):
    with mkdocs_gen_files.open(f"schema/{name}.json", "w") as out:
        out.write(schema_text(kind, user=False))
