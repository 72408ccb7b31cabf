# Whole-brain C. elegans dynamic connectome atlas: the entry point.
#   snakemake --cores all                       # the embedded default (simulated worms)
#   snakemake --cores all --configfile workflow/config/examples/dag2023.yaml
# See README.md for the stages, outputs and cluster profiles.

from snakemake.utils import min_version

from pipelines.common.config import validate_config

min_version("9.0")


# The embedded default, unless config files are given on the command line: those replace it
# (rather than being merged into it), so an example config runs only its own recordings.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/workflow/config/config.yaml"


validate_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/recordings.smk"
include: "workflow/rules/connectomes.smk"
include: "workflow/rules/dfc.smk"
include: "workflow/rules/dfc_communities.smk"
include: "workflow/rules/glmhmm.smk"
include: "workflow/rules/predictor.smk"
include: "workflow/rules/atlas.smk"


rule all:
    default_target: True
    input:
        all_targets(),
