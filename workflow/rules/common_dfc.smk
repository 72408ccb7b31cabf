# Python functions of the dfc stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/dfc.smk; functions stay here (snakemake --lint).
