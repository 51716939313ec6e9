"""The pipeline, free of any file format or command: problem -> initializer ->
optimizer -> runner -> outputs, on the shared pieces (errors, registry,
options, params, status). Nothing here imports :mod:`optrun.config`,
:mod:`optrun.commands` or the CLI (tests/test_layers.py checks it)."""
