# Rules of the simulate stage: synthetic worms with ground truth (format: simulated).
# simulate_model -> simulate_worm (one job per worm) -> simulate_truth.


rule simulate_model:
    output:
        model=f"{DATA}/raw/{{recording}}/model.nc",
    log:
        log_path("simulate_model", "{recording}"),
    benchmark:
        benchmark_path("simulate_model", "{recording}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=simulate_params,
        version=PIPELINES_VERSION,
    script:
        "../scripts/simulate_model.py"


rule simulate_worm:
    input:
        model=rules.simulate_model.output.model,
    output:
        data=f"{DATA}/raw/{{recording}}/{{batch}}-data.h5",
        labels=f"{DATA}/raw/{{recording}}/{{batch}}-labels.csv",
        truth=f"{DATA}/raw/{{recording}}/truth/{{batch}}.nc",
    log:
        log_path("simulate_worm", "{recording}", "{batch}"),
    benchmark:
        benchmark_path("simulate_worm", "{recording}", "{batch}")
    wildcard_constraints:
        batch="worm[0-9]+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=simulate_worm_mem_mb,
        runtime=10,
    params:
        version=PIPELINES_VERSION,
    script:
        "../scripts/simulate_worm.py"


rule simulate_truth:
    input:
        model=rules.simulate_model.output.model,
        truths=simulated_worm_truths,
    output:
        truth=f"{DATA}/raw/{{recording}}/ground_truth.nc",
    log:
        log_path("simulate_truth", "{recording}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        version=PIPELINES_VERSION,
    script:
        "../scripts/simulate_truth.py"
