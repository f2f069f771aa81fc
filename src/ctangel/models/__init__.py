"""Networks, checkpoints, the model registry and the runners that execute them."""
