localrules:
    fetch_pose2sim,


rule fetch_pose2sim:
    output:
        manifest=FETCH_OUTPUTS["pose2sim"],
    log:
        "logs/fetch/pose2sim.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        cache="resources/cache",
    script:
        "../scripts/fetch_pose2sim.py"
