rule scale:
    input:
        trc=get_scaling_trc,
        setup=get_opensim_fetch,
    output:
        model="results/scale/{dataset}/{subject}/{session}/{model}/scaled.osim",
        report="results/scale/{dataset}/{subject}/{session}/{model}/scaling.json",
    log:
        "logs/scale/{dataset}/{subject}/{session}/{model}.log",
    benchmark:
        "benchmarks/scale/{dataset}/{subject}/{session}/{model}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        participant=get_participant,
        marker_set=lambda wildcards: get_model(wildcards)["marker_set"],
        setup_dir=config["opensim"]["setup_dir"],
        window_s=config["opensim"]["scaling"]["window_s"],
    script:
        "../scripts/scale.py"


rule inverse_kinematics:
    input:
        trc="results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/markers.trc",
        model="results/scale/{dataset}/{subject}/{session}/{model}/scaled.osim",
    output:
        motion="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/joint_angles.mot",
        marker_errors="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/marker_errors.sto",
        report="results/ik/{dataset}/{subject}/{session}/{trial}/{model}/ik.json",
    log:
        "logs/inverse_kinematics/{dataset}/{subject}/{session}/{trial}/{model}.log",
    benchmark:
        "benchmarks/inverse_kinematics/{dataset}/{subject}/{session}/{trial}/{model}.tsv"
    conda:
        "../../envs/posebench.yaml"
    params:
        marker_set=lambda wildcards: get_model(wildcards)["marker_set"],
        setup_dir=config["opensim"]["setup_dir"],
        accuracy=config["opensim"]["ik"]["accuracy"],
    script:
        "../scripts/inverse_kinematics.py"
