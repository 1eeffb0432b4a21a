localrules:
    fetch_weights,


rule fetch_weights:
    output:
        PATHS.weights,
    log:
        log_path("fetch_weights", "{weights}"),
    conda:
        "../../envs/pose2d.yaml"
    params:
        entry=get_weights_entry,
        marker_set=get_weights_marker_set,
    script:
        "../scripts/fetch_weights.py"


rule detect:
    input:
        video=get_video,
        weights=PATHS.detector_weights,
    output:
        PATHS.detections,
    log:
        log_path("detect", DETECTION_KEY),
    benchmark:
        benchmark_path("detect", DETECTION_KEY)
    conda:
        "../../envs/pose2d.yaml"
    threads: lambda wildcards: get_detector(wildcards).get("threads", 1)
    resources:
        gpu=lambda wildcards: get_detector(wildcards).get("gpu", 1),
    params:
        detector=get_detector,
        frame_rows=FRAME_ROWS,
    script:
        "../scripts/detect.py"


rule pose2d:
    input:
        unpack(get_pose2d_inputs),
    output:
        PATHS.keypoints,
    log:
        log_path("pose2d", CAMERA_KEY),
    benchmark:
        benchmark_path("pose2d", CAMERA_KEY)
    conda:
        "../../envs/pose2d.yaml"
    threads: lambda wildcards: get_model(wildcards).get("threads", 1)
    resources:
        gpu=lambda wildcards: get_model(wildcards).get("gpu", 0),
    params:
        model=get_model,
        frame_rows=FRAME_ROWS,
    script:
        "../scripts/pose2d.py"
