# Python functions of the predictor stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/predictor.smk; functions stay here (snakemake --lint).
