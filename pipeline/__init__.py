"""poverty-pipeline: predict poverty from satellite imagery (Jean et al. 2016)."""
