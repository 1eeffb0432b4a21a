rule scale:
    input:
        trc=get_scaling_trc,
        opensim=get_opensim_fetch,
    output:
        model="results/scale/{dataset}/{subject}/{session}/{model}/{setup}/scaled.osim",
        report="results/scale/{dataset}/{subject}/{session}/{model}/{setup}/scaling.json",
    log:
        "logs/scale/{dataset}/{subject}/{session}/{model}/{setup}.log",
    benchmark:
        "benchmarks/scale/{dataset}/{subject}/{session}/{model}/{setup}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        participant=get_participant,
        marker_set=get_marker_set,
        setup_dir=get_setup_dir,
        window_s=config["opensim"]["scaling"]["window_s"],
    script:
        "../scripts/scale.py"


rule inverse_kinematics:
    input:
        trc="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/markers.trc",
        model="results/scale/{dataset}/{subject}/{session}/{model}/{setup}/scaled.osim",
    output:
        motion="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.mot",
        marker_errors="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/marker_errors.sto",
        report="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/ik.json",
    log:
        "logs/inverse_kinematics/{dataset}/{subject}/{session}/{trial}/{model}/{setup}.log",
    benchmark:
        "benchmarks/inverse_kinematics/{dataset}/{subject}/{session}/{trial}/{model}/{setup}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        marker_set=get_marker_set,
        setup_dir=get_setup_dir,
        accuracy=config["opensim"]["ik"]["accuracy"],
    script:
        "../scripts/inverse_kinematics.py"
