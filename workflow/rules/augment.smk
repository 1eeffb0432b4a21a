# OpenCap's LSTM marker augmenter, for marker sets that name one (e.g. halpe26-lstm): the
# triangulated joint centres and feet in, the anatomical markers the OpenSim steps track out.
rule augment:
    input:
        unpack(get_augment_inputs),
    output:
        trc=PATHS.augmented_trc,
        report=PATHS.augmentation,
    log:
        log_path("augment", SETUP_KEY),
    benchmark:
        benchmark_path("augment", SETUP_KEY)
    conda:
        "../../envs/posebench.yaml"
    params:
        marker_set=get_marker_set,
        participant=get_participant,
        augmenter_dir=AUGMENTER_DIR,
    script:
        "../scripts/augment.py"
