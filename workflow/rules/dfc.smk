# Rules of the dfc stage: affinities per batch, NTF per recording, mapping onto a reference.


rule dfc_affinity:
    input:
        batch=f"{DATA}/homogenized/{{recording}}/batches/{{batch}}.nc",
    output:
        affinity=f"{DATA}/dfc/{{recording}}/affinity/{{batch}}.nc",
    log:
        log_path("dfc_affinity", "{recording}", "{batch}"),
    benchmark:
        benchmark_path("dfc_affinity", "{recording}", "{batch}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        affinity=dfc_settings("affinity"),
        time_bin=dfc_settings("tensor")["time_bin"],
        seed=config["seed"],
        version=PIPELINES_VERSION,
    script:
        "../scripts/dfc_affinity.py"


rule dfc_ntf:
    input:
        affinity=dfc_affinity_files,
    output:
        ntf=f"{DATA}/dfc/{{recording}}/ntf.nc",
    log:
        log_path("dfc_ntf", "{recording}"),
    benchmark:
        benchmark_path("dfc_ntf", "{recording}")
    wildcard_constraints:
        recording=dfc_recording_pattern(fitted_recordings()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=dfc_ntf_mem_mb,
        runtime=120,
    params:
        tensor=dfc_settings("tensor"),
        ntf=dfc_settings("ntf"),
        seed=config["seed"],
        version=PIPELINES_VERSION,
    script:
        "../scripts/dfc_ntf.py"


rule dfc_map:
    input:
        affinity=dfc_affinity_files,
        reference=dfc_reference_ntf,
    output:
        ntf=f"{DATA}/dfc/{{recording}}/ntf.nc",
    log:
        log_path("dfc_map", "{recording}"),
    benchmark:
        benchmark_path("dfc_map", "{recording}")
    wildcard_constraints:
        recording=dfc_recording_pattern(mapped_recordings()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=dfc_ntf_mem_mb,
        runtime=60,
    params:
        tensor=dfc_settings("tensor"),
        ntf=dfc_settings("ntf"),
        reference=dfc_reference_name,
        seed=config["seed"],
        version=PIPELINES_VERSION,
    script:
        "../scripts/dfc_map.py"
