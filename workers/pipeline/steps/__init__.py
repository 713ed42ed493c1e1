"""The pipeline steps, one module each; ``workers.pipeline.table`` orders them."""
