# Rules of the dfc stage's communities step (weighted SBM per NTF component).
# Kept apart from dfc.smk (affinity, NTF) so both parts can be edited independently.


rule dfc_communities:
    input:
        ntf=f"{DATA}/dfc/{{recording}}/ntf.nc",
    output:
        communities=f"{DATA}/dfc/{{recording}}/communities.nc",
    log:
        log_path("dfc_communities", "{recording}"),
    benchmark:
        benchmark_path("dfc_communities", "{recording}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        communities=dfc_settings("communities"),
        seed=config["seed"],
        version=PIPELINES_VERSION,
    script:
        "../scripts/dfc_communities.py"
