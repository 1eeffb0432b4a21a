rule triangulate:
    input:
        keypoints=get_keypoint_files,
        calibration=get_calibration,
    output:
        trc="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/markers.trc",
        reprojection="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/reprojection_error.csv",
        report="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/triangulation.json",
    log:
        "logs/triangulate/{dataset}/{subject}/{session}/{trial}/{model}.log",
    benchmark:
        "benchmarks/triangulate/{dataset}/{subject}/{session}/{trial}/{model}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        cameras=get_cameras,
        marker_set=lambda wildcards: get_model(wildcards)["marker_set"],
        settings=config["triangulation"],
    script:
        "../scripts/triangulate.py"
