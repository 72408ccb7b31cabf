# Rules of the recordings stage: every input format -> data/homogenized/{recording}.nc.
# pull_hub (checkpoint, hf only) -> homogenize_batch (one job per input file / simulated
# worm / Hub source) -> homogenize (streaming merge). export_hub writes a recording back in
# the Hub's parquet schema (on request: snakemake data/export/<recording>).


checkpoint pull_hub:
    output:
        folder=directory(f"{DATA}/raw/{{recording}}/hub"),
    log:
        log_path("pull_hub", "{recording}"),
    benchmark:
        benchmark_path("pull_hub", "{recording}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        hub=hub_params,
        version=PIPELINES_VERSION,
    script:
        "../scripts/recordings_pull_hub.py"


rule homogenize_batch:
    input:
        unpack(batch_inputs),
    output:
        batch=f"{DATA}/homogenized/{{recording}}/batches/{{batch}}.nc",
    log:
        log_path("homogenize_batch", "{recording}", "{batch}"),
    benchmark:
        benchmark_path("homogenize_batch", "{recording}", "{batch}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=batch_mem_mb,
        runtime=30,
    params:
        reader=batch_params,
        settings=homogenize_params,
        version=PIPELINES_VERSION,
    script:
        "../scripts/recordings_homogenize_batch.py"


rule homogenize:
    input:
        batches=batch_stores,
    output:
        store=f"{DATA}/homogenized/{{recording}}.nc",
    log:
        log_path("homogenize", "{recording}"),
    benchmark:
        benchmark_path("homogenize", "{recording}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=merge_mem_mb,
        runtime=30,
    params:
        version=PIPELINES_VERSION,
    script:
        "../scripts/recordings_merge.py"


rule export_hub:
    input:
        unpack(export_inputs),
    output:
        folder=directory(f"{DATA}/export/{{recording}}"),
    log:
        log_path("export_hub", "{recording}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        reader=export_params,
        version=PIPELINES_VERSION,
    script:
        "../scripts/recordings_export.py"
