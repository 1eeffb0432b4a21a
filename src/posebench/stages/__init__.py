"""Stage shells, one module per workflow rule (`posebench.stages.triangulate` for the rule
`triangulate`, ...).

A shell loads its rule's input files, calls the stage's pure core (arrays and dataclasses in,
a dataclass out, in the domain modules: `posebench.reconstruction`, `posebench.opensim`,
`posebench.evaluation`, ...) and writes the outputs atomically. The adapters under
`workflow/scripts/` only pass `snakemake.input/output/params` to a shell.
"""
