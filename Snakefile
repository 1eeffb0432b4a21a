from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/pose2d.smk"
include: "workflow/rules/triangulate.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/kinematics.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/evaluate.smk"


# A failed run leaves no outdated result that looks valid (posebench.cleanup); a
# successful one no stale incomplete-job marker. Both exit without waiting out the
# scheduler's wake-up timers.
onerror:
    discard_outdated(unfinished_jobs())
    cancel_scheduler_timers()


onsuccess:
    settle_incomplete_markers()
    cancel_scheduler_timers()


rule all:
    default_target: True
    input:
        get_final_output,
