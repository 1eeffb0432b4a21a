rule triangulate:
    input:
        keypoints=get_keypoint_files,
        calibration=get_calibration,
    output:
        trc=PATHS.trc,
        reprojection=PATHS.reprojection,
        report=PATHS.triangulation,
    log:
        log_path("triangulate", SETUP_KEY),
    benchmark:
        benchmark_path("triangulate", SETUP_KEY)
    conda:
        "../../envs/posebench.yaml"
    params:
        cameras=get_cameras,
        marker_set=get_marker_set,
        settings=config["triangulation"],
    script:
        "../scripts/triangulate.py"
