localrules:
    fetch_weights,


rule fetch_weights:
    output:
        "resources/models/{weights}/weights.json",
    log:
        "logs/fetch_weights/{weights}.log",
    conda:
        "../../envs/pose2d.yaml"
    params:
        entry=get_weights_entry,
        marker_set=lambda wildcards: config["models"]
        .get(wildcards.weights, {})
        .get("marker_set"),
    script:
        "../scripts/fetch_weights.py"


rule detect:
    input:
        video=get_video,
        weights="resources/models/{detector}/weights.json",
    output:
        "results/detections/{detector}/{dataset}/{subject}/{session}/{trial}/{camera}.npz",
    log:
        "logs/detect/{detector}/{dataset}/{subject}/{session}/{trial}/{camera}.log",
    benchmark:
        "benchmarks/detect/{detector}/{dataset}/{subject}/{session}/{trial}/{camera}.tsv"
    conda:
        "../../envs/pose2d.yaml"
    threads: lambda wildcards: get_detector(wildcards).get("threads", 1)
    resources:
        gpu=lambda wildcards: get_detector(wildcards).get("gpu", 1),
    params:
        detector=get_detector,
    script:
        "../scripts/detect.py"


rule pose2d:
    input:
        unpack(get_pose2d_inputs),
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
