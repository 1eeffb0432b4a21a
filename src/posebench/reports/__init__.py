"""Reports passed between stages: frozen dataclasses with `to_json`/`from_json`.

A stage writes its report as JSON (`triangulation.json`, `scaling.json`, ...) and a later
stage reads it back through the same dataclass, so a field is named in one place and a
report missing a field fails with a message naming the file instead of a `KeyError` deep in
the reader. This package imports only the standard library and `posebench.io`, so reading a
report never loads numpy, OpenSim or a model.
"""
