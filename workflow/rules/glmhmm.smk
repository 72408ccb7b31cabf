# Rules of the glmhmm stage: switching AR-GLM per fitted recording; mapped recordings are
# decoded with their reference recording's model.


rule glmhmm_fit:
    input:
        unpack(glmhmm_fit_inputs),
    output:
        summary=f"{DATA}/glmhmm/{{recording}}/glmhmm.nc",
        model=f"{DATA}/glmhmm/{{recording}}/model.npz",
    log:
        log_path("glmhmm_fit", "{recording}"),
    benchmark:
        benchmark_path("glmhmm_fit", "{recording}")
    wildcard_constraints:
        recording=glmhmm_pattern(fitted_recordings()),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=glmhmm_mem_mb,
        runtime=120,
    params:
        settings=glmhmm_settings(),
        version=PIPELINES_VERSION,
    script:
        "../scripts/glmhmm_fit.py"


rule glmhmm_map:
    input:
        unpack(glmhmm_reference),
        store=homogenized("{recording}"),
    output:
        summary=f"{DATA}/glmhmm/{{recording}}/glmhmm.nc",
    log:
        log_path("glmhmm_map", "{recording}"),
    benchmark:
        benchmark_path("glmhmm_map", "{recording}")
    wildcard_constraints:
        recording=glmhmm_pattern(mapped_recordings()),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=glmhmm_mem_mb,
        runtime=30,
    params:
        version=PIPELINES_VERSION,
    script:
        "../scripts/glmhmm_map.py"
