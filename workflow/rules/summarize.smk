rule summarize:
    input:
        motion="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.mot",
        marker_errors="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/marker_errors.sto",
        triangulation="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/triangulation.json",
    output:
        statistics="results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.csv",
        quality="results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/quality.csv",
        plot=report(
            "results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.png",
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
        "logs/summarize/{dataset}/{subject}/{session}/{trial}/{model}/{setup}.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        plot_coordinates=config["summary"].get("plot_coordinates"),
    script:
        "../scripts/summarize.py"


rule aggregate:
    input:
        statistics=lambda wildcards: expand_units(
            "results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.csv"
        ),
        quality=lambda wildcards: expand_units(
            "results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/quality.csv"
        ),
    output:
        statistics=report(
            "results/summary/joint_angles.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
        quality=report(
            "results/summary/trials.csv",
            caption="../report/trials.rst",
            category="Summary",
        ),
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/posebench.yaml"
    script:
        "../scripts/aggregate.py"
