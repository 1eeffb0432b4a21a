localrules:
    describe_dataset,


checkpoint describe_dataset:
    input:
        get_dataset_inputs,
    output:
        samples="results/datasets/{dataset}/samples.tsv",
        skipped="results/datasets/{dataset}/skipped.tsv",
        calibration=directory("results/datasets/{dataset}/calibration"),
    log:
        "logs/describe_dataset/{dataset}.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        dataset=lambda wildcards: config["datasets"][wildcards.dataset],
    script:
        "../scripts/describe_dataset.py"


rule generate_synthetic:
    input:
        get_fetch_output(get_opensim_setup("pose2sim").get("fetch")),
    output:
        "resources/synthetic/{dataset}/generated.json",
    log:
        "logs/generate_synthetic/{dataset}.log",
    benchmark:
        "benchmarks/generate_synthetic/{dataset}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        settings=lambda wildcards: config["datasets"][wildcards.dataset]["generate"],
        setup_dir=get_opensim_setup("pose2sim")["path"],
    script:
        "../scripts/generate_synthetic.py"
