rule evaluate:
    input:
        motion="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.mot",
        ground_truth=get_ground_truth,
    output:
        "results/evaluation/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/scores.csv",
    log:
        "logs/evaluate/{dataset}/{subject}/{session}/{trial}/{model}/{setup}.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        trial_keys=get_evaluation_keys,
        marker_set=get_marker_set,
        ground_truth_aliases=lambda wildcards: config["datasets"][
            wildcards.dataset
        ].get("ground_truth_aliases", {}),
        settings=config["evaluation"],
    script:
        "../scripts/evaluate.py"


rule leaderboard:
    input:
        get_scores,
    output:
        csv=report(
            "results/{dataset}/leaderboard.csv",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        markdown="results/{dataset}/leaderboard.md",
        plot=report(
            "results/{dataset}/leaderboard.png",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        scores="results/{dataset}/scores.csv",
        breakdowns=directory("results/{dataset}/breakdowns"),
    log:
        "logs/leaderboard/{dataset}.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        settings=config["evaluation"],
    script:
        "../scripts/leaderboard.py"
