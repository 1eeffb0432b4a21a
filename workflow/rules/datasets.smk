localrules:
    describe_dataset,


checkpoint describe_dataset:
    input:
        get_dataset_fetch,
    output:
        samples="results/datasets/{dataset}/samples.tsv",
        calibration=directory("results/datasets/{dataset}/calibration"),
    log:
        "logs/describe_dataset/{dataset}.log",
    conda:
        "../../envs/posebench.yaml"
    params:
        dataset=lambda wildcards: config["datasets"][wildcards.dataset],
    script:
        "../scripts/describe_dataset.py"
