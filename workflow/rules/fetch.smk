localrules:
    fetch_demo_data,
    fetch_opencap_core,


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


rule fetch_opencap_core:
    output:
        manifest=FETCH_OUTPUTS["opencap-core"],
    log:
        "logs/fetch_opencap_core.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        local_copy=PLAN.local_copy("opencap-core"),
    script:
        "../scripts/fetch_opencap_core.py"
