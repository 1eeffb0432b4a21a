localrules:
    describe_dataset,


checkpoint describe_dataset:
    input:
        get_describe_inputs,
    output:
        samples=PATHS.samples,
        skipped=PATHS.skipped,
        calibration=directory(PATHS.calibration_dir),
    log:
        log_path("describe_dataset", "{dataset}"),
    conda:
        "../../envs/posebench.yaml"
    params:
        dataset=get_dataset,
        sheet_format=SHEET_FORMAT,
    script:
        "../scripts/describe_dataset.py"


rule generate_synthetic:
    input:
        get_generator_inputs,
    output:
        PATHS.generated,
    log:
        log_path("generate_synthetic", "{dataset}"),
    benchmark:
        benchmark_path("generate_synthetic", "{dataset}")
    conda:
        "../../envs/posebench.yaml"
    params:
        settings=lambda wildcards: get_dataset(wildcards)["generate"],
        setup_dir=get_generator_setup_dir,
    script:
        "../scripts/generate_synthetic.py"
