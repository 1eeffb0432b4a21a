from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/pose2d.smk"
include: "workflow/rules/triangulate.smk"
include: "workflow/rules/kinematics.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        get_final_output,
