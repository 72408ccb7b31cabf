# Rules of the atlas stage: one atlas (atlas.nc, graphs/, figures/, report.html) per recording.


rule atlas:
    input:
        unpack(atlas_inputs),
    output:
        atlas=f"{DATA}/atlas/{{recording}}/atlas.nc",
        report=report(
            f"{DATA}/atlas/{{recording}}/report.html",
            caption="../report/atlas.rst",
            category="Atlas",
            labels={"recording": "{recording}", "file": "report"},
        ),
        graphs=directory(f"{DATA}/atlas/{{recording}}/graphs"),
        figures=report(
            directory(f"{DATA}/atlas/{{recording}}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Atlas",
            labels={"recording": "{recording}", "figure": "{name}"},
        ),
    log:
        log_path("atlas", "{recording}"),
    benchmark:
        benchmark_path("atlas", "{recording}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        settings=atlas_settings,
        version=PIPELINES_VERSION,
    script:
        "../scripts/atlas_build.py"
