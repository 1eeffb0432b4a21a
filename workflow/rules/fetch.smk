localrules:
    fetch_demo_data,


rule fetch_demo_data:
    output:
        manifest=FETCH_OUTPUTS["pose2sim"],
    log:
        "logs/fetch_demo_data.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        cache="resources/cache",
    script:
        "../scripts/fetch_demo_data.py"
