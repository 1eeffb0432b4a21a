# Small tables and plots of finished results: they run where Snakemake runs (on a
# cluster, the submitting host) rather than as cluster jobs of their own.
localrules:
    leaderboard,


rule evaluate:
    input:
        motion=PATHS.motion,
        ground_truth=get_ground_truth,
        triangulation=PATHS.triangulation,
    output:
        PATHS.scores,
    log:
        log_path("evaluate", SETUP_KEY),
    conda:
        "../../envs/posebench.yaml"
    params:
        trial_keys=get_evaluation_keys,
        marker_set=get_marker_set,
        ground_truth_aliases=get_ground_truth_aliases,
        settings=config["evaluation"],
    script:
        "../scripts/evaluate.py"


rule leaderboard:
    input:
        get_scores,
    output:
        csv=report(
            PATHS.leaderboard_csv,
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        markdown=PATHS.leaderboard_md,
        plot=report(
            PATHS.leaderboard_png,
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        scores=PATHS.dataset_scores,
        breakdowns=directory(PATHS.breakdowns),
    log:
        log_path("leaderboard", "{dataset}"),
    conda:
        "../../envs/posebench.yaml"
    params:
        settings=config["evaluation"],
    script:
        "../scripts/leaderboard.py"
