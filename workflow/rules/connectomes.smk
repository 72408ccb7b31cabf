# Rules of the connectomes stage.


rule connectomes:
    input:
        user_files=connectome_input_files(),
    output:
        store=connectomes_store(),
        neurons=connectome_neurons(),
    log:
        log_path("connectomes"),
    benchmark:
        benchmark_path("connectomes")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        settings=connectome_settings(),
        version=PIPELINES_VERSION,
    script:
        "../scripts/connectomes_build.py"


rule connectome_graphs:
    input:
        store=connectomes_store(),
    output:
        graphs=connectome_graph_paths(),
    log:
        log_path("connectome_graphs"),
    benchmark:
        benchmark_path("connectome_graphs")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        version=PIPELINES_VERSION,
    script:
        "../scripts/connectomes_graphs.py"
