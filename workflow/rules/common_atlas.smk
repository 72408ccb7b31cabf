# Python functions of the atlas stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/atlas.smk; functions stay here (snakemake --lint).
