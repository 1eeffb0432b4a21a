rule pose2d:
    input:
        video=get_video,
    output:
        "results/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.npz",
    log:
        "logs/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.log",
    benchmark:
        "benchmarks/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.tsv"
    conda:
        "../../envs/pose2d.yaml"
    threads: lambda wildcards: get_model(wildcards).get("threads", 1)
    resources:
        gpu=lambda wildcards: get_model(wildcards).get("gpu", 0),
    params:
        model=get_model,
    script:
        "../scripts/pose2d.py"
