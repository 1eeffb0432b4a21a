# Small tables and plots of finished results: they run where Snakemake runs (on a
# cluster, the submitting host) rather than as cluster jobs of their own.
localrules:
    aggregate,


rule summarize:
    input:
        motion=PATHS.motion,
        marker_errors=PATHS.marker_errors,
        triangulation=PATHS.triangulation,
    output:
        statistics=PATHS.statistics,
        quality=PATHS.quality,
        plot=report(
            PATHS.plot,
            caption="../report/joint_angles.rst",
            category="Joint angles",
            subcategory="{model} ({setup})",
            labels={
                "dataset": "{dataset}",
                "subject": "{subject}",
                "session": "{session}",
                "trial": "{trial}",
                "model": "{model}",
                "setup": "{setup}",
            },
        ),
    log:
        log_path("summarize", SETUP_KEY),
    conda:
        "../../envs/posebench.yaml"
    params:
        plot_coordinates=config["summary"].get("plot_coordinates"),
    script:
        "../scripts/summarize.py"


rule aggregate:
    input:
        statistics=get_all_statistics,
        quality=get_all_quality,
    output:
        statistics=report(
            PATHS.all_statistics,
            caption="../report/summary.rst",
            category="Summary",
        ),
        quality=report(
            PATHS.all_quality,
            caption="../report/trials.rst",
            category="Summary",
        ),
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/posebench.yaml"
    script:
        "../scripts/aggregate.py"
