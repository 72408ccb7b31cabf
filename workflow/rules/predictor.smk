# Rules of the predictor stage: a neuron-token transformer per fitted recording, evaluated
# against copy-last, ridge VAR and shared AR baselines within worm and on held-out worms;
# mapped recordings are forecast with their reference recording's model.


rule predictor_train:
    input:
        store=homogenized("{recording}"),
    output:
        model=f"{DATA}/predictor/{{recording}}/model.pt",
    log:
        log_path("predictor_train", "{recording}"),
    benchmark:
        benchmark_path("predictor_train", "{recording}")
    wildcard_constraints:
        recording=predictor_pattern(fitted_recordings()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=predictor_mem_mb,
        runtime=predictor_runtime,
        gpu=predictor_gpus,
    params:
        settings=predictor_settings(),
        version=PIPELINES_VERSION,
    script:
        "../scripts/predictor_train.py"


rule predictor_evaluate:
    input:
        store=homogenized("{recording}"),
        model=f"{DATA}/predictor/{{recording}}/model.pt",
        connectomes=connectomes_store(),
    output:
        table=f"{DATA}/predictor/{{recording}}/evaluation.csv",
        summary=f"{DATA}/predictor/{{recording}}/predictor.nc",
    log:
        log_path("predictor_evaluate", "{recording}"),
    benchmark:
        benchmark_path("predictor_evaluate", "{recording}")
    wildcard_constraints:
        recording=predictor_pattern(fitted_recordings()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=predictor_mem_mb,
        runtime=predictor_runtime,
        gpu=predictor_gpus,
    params:
        settings=predictor_settings(),
        version=PIPELINES_VERSION,
    script:
        "../scripts/predictor_evaluate.py"


rule predictor_map:
    input:
        unpack(predictor_reference),
        store=homogenized("{recording}"),
        connectomes=connectomes_store(),
    output:
        table=f"{DATA}/predictor/{{recording}}/evaluation.csv",
        summary=f"{DATA}/predictor/{{recording}}/predictor.nc",
    log:
        log_path("predictor_map", "{recording}"),
    benchmark:
        benchmark_path("predictor_map", "{recording}")
    wildcard_constraints:
        recording=predictor_pattern(mapped_recordings()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=predictor_mem_mb,
        runtime=predictor_runtime,
        gpu=predictor_gpus,
    params:
        settings=predictor_settings(),
        version=PIPELINES_VERSION,
    script:
        "../scripts/predictor_map.py"
