"""What the READMEs show: figures (one run, the grids), sweep_figures, and the claims' findings."""
