rule scale:
    input:
        unpack(get_scaling_inputs),
        opensim=get_opensim_inputs,
    output:
        model=PATHS.scaled_model,
        report=PATHS.scaling,
    log:
        log_path("scale", SESSION_KEY),
    benchmark:
        benchmark_path("scale", SESSION_KEY)
    conda:
        "../../envs/posebench.yaml"
    params:
        participant=get_participant,
        scaling=get_scaling_mode,
        marker_set=get_marker_set,
        setup_dir=get_setup_dir,
        window_s=config["opensim"]["scaling"]["window_s"],
    script:
        "../scripts/scale.py"


rule inverse_kinematics:
    input:
        trc=get_markers_trc,
        model=get_scaled_model,
    output:
        motion=PATHS.motion,
        marker_errors=PATHS.marker_errors,
        report=PATHS.ik,
    log:
        log_path("inverse_kinematics", SETUP_KEY),
    benchmark:
        benchmark_path("inverse_kinematics", SETUP_KEY)
    conda:
        "../../envs/posebench.yaml"
    params:
        marker_set=get_marker_set,
        setup_dir=get_setup_dir,
        accuracy=config["opensim"]["ik"]["accuracy"],
    script:
        "../scripts/inverse_kinematics.py"
